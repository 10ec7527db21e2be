"""The training bar: whole lines in a log, a live bar in a terminal."""

import io

from engine.training.progress import LineStream, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_whole_line_per_redraw_and_no_carriage_return():
    log = io.StringIO()
    bar = progress_bar(10, 2, "run epoch 1/2", stream=log)
    bar.update(3)
    bar.set_description("run epoch 2/2")  # a redraw, as each epoch's start does
    bar.close()
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) >= 2 and all(line.strip() for line in lines)
    assert lines[0].startswith("run epoch 1/2") and "2/10" in lines[0]
    assert lines[-1].startswith("run epoch 2/2") and "5/10" in lines[-1]


def test_a_terminal_keeps_the_live_bar():
    term = Terminal()
    bar = progress_bar(10, 0, "run", stream=term)
    bar.update(1)
    bar.close()
    assert "\r" in term.getvalue()


def test_a_disabled_bar_writes_nothing():
    log = io.StringIO()
    bar = progress_bar(10, 0, "run", enabled=False, stream=log)
    bar.update(4)
    bar.close()
    assert log.getvalue() == ""


def test_line_stream_drops_blank_redraws():
    log = io.StringIO()
    stream = LineStream(log)
    stream.write("\r   ")
    stream.write("\rstep 1   ")
    stream.write("\n")
    assert log.getvalue() == "step 1\n"
