"""Copy benchmarks/results/*.md into README.md between the results markers."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = [("fer", "FER2013 test set, default model (issue 2 and 6 targets)"),
         ("fer_tta", "Same, with test-time augmentation (`--tta`: as is, mirrored, zoomed, both)"),
         ("valid", "Choosing the default model: candidates on the validation split"),
         ("valid_int8", "The chosen ensemble as shipped (int8 weights), validation split"),
         ("fer_60min", "FER2013 test set, the 60-minute model: `recipes/fer8.py` stage 1 (issue 2)"),
         ("from_default", "Fine-tuning on little data: ImageNet start vs `--from default`"),
         ("photo_pipeline", "Training crops vs the photo pipeline"),
         ("faces", "Photo pipeline latency"),
         ("inference", "Exported model: PyTorch vs ONNX Runtime"),
         ("serve", "Server on loopback"),
         ("collect", "Collecting and de-duplicating")]
START, END = "<!-- results:start -->", "<!-- results:end -->"


def main() -> None:
    blocks = []
    for name, title in ORDER:
        path = ROOT / "benchmarks" / "results" / f"{name}.md"
        if path.exists():
            blocks.append(f"### {title}\n\n{path.read_text().strip()}\n")
    readme = (ROOT / "README.md").read_text()
    head, rest = readme.split(START, 1)
    tail = rest.split(END, 1)[1]
    (ROOT / "README.md").write_text(f"{head}{START}\n{chr(10).join(blocks)}\n{END}{tail}")


if __name__ == "__main__":
    main()
