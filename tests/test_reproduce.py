"""`reproduce part-b --quick`: every Part B figure, with an index page that shows them."""

import html
import re

from PIL import Image

from app.cli import main
from engine.training.reproduce import QUICK_NOTE, Figure, write_index


def test_quick_part_b_makes_every_figure(tmp_path, capsys):
    out = tmp_path / "part-b"
    assert main(["reproduce", "part-b", "--quick", "--device", "cpu", "--out", str(out)]) == 0
    assert "noise by design" in capsys.readouterr().out, "the command says what --quick is"
    index = (out / "index.html").read_text()
    assert "noise by design" in index and "class='note'" in index
    shown = re.findall(r"src='([^']+)'", index)
    sections = re.findall(r"<b>(B-[\d.]+)</b>", index)
    assert set(sections) == {"B-1.2", "B-1.2.1", "B-1.2.2", "B-2.2", "B-2.3", "B-2.4", "B-2.5"}
    expected = {"noising.png", "denoiser-loss.png", "time-loss.png", "class-loss.png",
                "denoiser-ood.png", "denoiser-epoch-1.png", "denoiser-epoch-2.png",
                "time-epoch-1.png", "time-epoch-2.png", "class-epoch-1.png", "class-epoch-2.png"}
    assert set(shown) == expected
    for name in shown:
        with Image.open(out / name) as picture:
            assert picture.width > 100 and picture.height > 50
    # a second call resumes the finished runs instead of training again
    assert main(["reproduce", "part-b", "--quick", "--device", "cpu", "--out", str(out)]) == 0


def test_only_a_quick_index_warns_that_its_samples_are_noise(tmp_path):
    made = [Figure("noising.png", "B-1.2", "Noising.")]
    write_index(tmp_path, made, quick=True)
    quick = (tmp_path / "index.html").read_text()
    assert html.escape(QUICK_NOTE) in quick and "(quick)" in quick
    write_index(tmp_path, made, quick=False)
    full = (tmp_path / "index.html").read_text()
    assert "noise by design" not in full and "class='note'" not in full
    assert "noising.png" in full
