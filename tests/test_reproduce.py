"""`reproduce part-b --quick`: every Part B figure, with an index page that shows them."""

import re

from PIL import Image

from app.cli import main


def test_quick_part_b_makes_every_figure(tmp_path):
    out = tmp_path / "part-b"
    assert main(["reproduce", "part-b", "--quick", "--device", "cpu", "--out", str(out)]) == 0
    index = (out / "index.html").read_text()
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
