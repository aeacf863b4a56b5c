"""Detection on real images: one face, several faces at several scales and angles, no face, odd inputs."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image
from skimage.data import coffee

from faces_helpers import COLLAGE, make_collage
from facexp.faces import FaceSettings, detect_faces, detect_faces_batch, eye_angle
from facexp.imageio import open_image
from helpers import shared_path


def test_astronaut_has_one_face_with_landmarks_in_place(astro):
    faces = detect_faces(astro)
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    assert 170 < x < 200 and 50 < y < 80 and 70 < w < 110 and face.score > 0.99
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
    assert lx < nx < rx and max(ly, ry) < ny < min(mly, mry) and mlx < mrx  # eyes, nose, mouth in order
    assert abs(eye_angle(face)) < 5
    assert face.to_dict()["box"] == [round(v, 2) for v in face.box]


def test_collage_finds_every_face_largest_first(collage):
    faces = detect_faces(collage)
    assert len(faces) == len(COLLAGE)
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    tilted = sorted(round(eye_angle(f)) for f in faces if abs(eye_angle(f)) > 8)
    # pasted at +20 (counter-clockwise: the right eye rises) and -15 degrees
    assert len(tilted) == 2 and -25 < tilted[0] < -15 and 10 < tilted[1] < 20


@pytest.mark.parametrize("image", [Image.fromarray(coffee()),
                                   Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), np.uint8)),
                                   Image.new("RGB", (300, 200), "gray"), Image.new("RGB", (10, 7), "white")],
                         ids=["coffee", "noise", "flat", "tiny"])
def test_no_face_is_an_empty_list(image):
    assert detect_faces(image) == []


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK"])
def test_any_image_mode(astro, mode):
    assert len(detect_faces(astro.convert(mode))) == 1


def test_exif_rotated_jpeg_is_detected_upright(astro, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the stored pixels must be turned 90 degrees clockwise for display
    path = tmp_path / "sideways.jpg"
    astro.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=95)
    faces = detect_faces(open_image(path))
    upright = detect_faces(astro)[0]
    assert len(faces) == 1 and abs(eye_angle(faces[0])) < 5
    assert np.allclose(faces[0].box, upright.box, atol=8)


def test_boxes_map_back_from_the_downscaled_detection(astro):
    big = astro.resize((1536, 1536), Image.BICUBIC)  # detected at 640, reported at 1536
    face = detect_faces(big)[0]
    small = detect_faces(astro)[0]
    assert np.allclose(face.box, [v * 3 for v in small.box], rtol=0.08, atol=6)
    assert np.allclose(face.landmarks, [(x * 3, y * 3) for x, y in small.landmarks], atol=9)


def test_a_whole_multiple_of_max_side_is_downscaled_by_block_means(astro):
    from facexp.faces.detect import _downscaled

    rgb = np.asarray(astro.resize((1280, 853)))
    small, factors = _downscaled(rgb, 640)
    assert small.shape == (426, 640, 3) and factors == (2.0, 2.0)  # row 852 does not fill a block: left out
    blocks = rgb[:852].reshape(426, 2, 640, 2, 3).astype(np.float32).mean(axis=(1, 3))
    assert np.abs(small.astype(np.float32) - blocks).max() <= 0.5  # each pixel is its 2x2 block's mean
    odd, (sx, sy) = _downscaled(rgb[:, :1000], 640)  # 1000 px: not a multiple, the fractional path
    assert odd.shape == (546, 640, 3) and (sx, sy) == (1000 / 640, 853 / 546)
    thin, factors = _downscaled(np.zeros((1, 1280, 3), np.uint8), 640)  # thinner than a block: not emptied
    assert thin.shape == (1, 640, 3) and factors == (2.0, 1.0)


def test_a_face_maps_back_by_the_block_size(astro):
    from facexp.faces.detect import _downscaled

    photo = Image.new("RGB", (1280, 853), (120, 120, 120))
    photo.paste(astro.resize((256, 256)), (501, 301))
    small = Image.fromarray(_downscaled(np.asarray(photo), 640)[0])  # what the detector saw
    face, seen = detect_faces(photo)[0], detect_faces(small)[0]
    assert np.allclose(face.box, [2 * v for v in seen.box]) and 501 < face.box[0] < 501 + 128


def test_batch_matches_one_by_one(astro, collage):
    images = [astro, collage, astro.convert("L"), Image.fromarray(coffee()), astro]
    batch = detect_faces_batch(images)
    assert [len(b) for b in batch] == [1, len(COLLAGE), 1, 0, 1]
    for got, image in zip(batch, images):
        assert np.allclose([f.box for f in got], [f.box for f in detect_faces(image)], atol=0.5)
    assert detect_faces_batch([]) == []


def test_min_score_drops_less_certain_faces(collage):
    scores = sorted(f.score for f in detect_faces(collage))
    assert scores[0] < scores[-1]  # the smallest, tilted head is the least certain (about 0.998)
    kept = detect_faces(collage, settings=FaceSettings(min_score=(scores[0] + scores[-1]) / 2))
    assert 1 <= len(kept) < len(scores)


def test_min_face_skips_small_faces(astro):
    tiny = make_collage(astro, specs=(((30, 40), 0.3, 0),))  # a ~25 px face at the 640 px detection scale
    assert len(detect_faces(tiny)) == 1
    assert detect_faces(tiny, settings=FaceSettings(min_face=60)) == []


def test_shared_photos_find_the_right_number_of_faces():
    photos = shared_path("photos")
    assert len(detect_faces(open_image(photos / "group.jpeg"))) >= 4
    assert detect_faces(open_image(photos / "non_face.jpg")) == []
    for name in ("happy-baby.jpeg", "sad-baby.jpeg", "surprised.jpeg", "angry.jpg", "neutral.jpeg"):
        assert len(detect_faces(open_image(photos / name))) == 1, name


def test_bytes_round_trip_through_open_image(astro):
    buf = io.BytesIO()
    astro.save(buf, format="PNG")
    assert len(detect_faces(open_image(buf.getvalue()))) == 1


def test_threads_share_one_detector_and_agree(astro, collage):
    from concurrent.futures import ThreadPoolExecutor

    from facexp.faces.backends.mtcnn import load_cascade

    expected = [detect_faces(astro), detect_faces(collage)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(detect_faces, [astro, collage] * 3))
        models = set(pool.map(lambda _: id(load_cascade()), range(4)))
    assert len(models) == 1
    for got, want in zip(results, expected * 3):
        assert np.allclose([f.box for f in got], [f.box for f in want], atol=1e-3)


def test_stages_split_over_two_threads_find_exactly_what_one_thread_finds(astro, collage, monkeypatch):
    from facexp.faces.backends.mtcnn import Cascade, detect_one, weights_dir

    monkeypatch.setenv("FACEXP_THREADS", "2")  # the tests' torch runs on one thread, which would keep it whole
    cascade = Cascade(weights_dir())
    if not cascade.parallel:
        pytest.skip("one core: the cascade never splits its stages")
    images = [np.asarray(astro), np.asarray(collage.convert("RGB"))]
    split = [detect_one(cascade, img, 20, (0.5, 0.5, 0.5)) for img in images]
    assert cascade._helper is not None  # the helper ran
    monkeypatch.setattr(cascade, "parallel", False)
    for img, (boxes, points) in zip(images, split):
        whole_boxes, whole_points = detect_one(cascade, img, 20, (0.5, 0.5, 0.5))
        assert len(boxes) >= 1
        np.testing.assert_allclose(boxes, whole_boxes, atol=1e-5)
        np.testing.assert_allclose(points, whole_points, atol=1e-5)


@pytest.mark.parametrize("other", ["holds the helper", "is being detected"])
def test_while_another_image_is_detected_the_nets_run_unsplit_on_one_thread_sessions(astro, monkeypatch, other):
    from facexp.faces.backends.mtcnn import Cascade, detect_one, weights_dir

    monkeypatch.setenv("FACEXP_THREADS", "2")
    cascade = Cascade(weights_dir())
    if not cascade.parallel:
        pytest.skip("one core: the cascade never splits its stages")
    img = np.asarray(astro)
    expected = detect_one(cascade, img, 20, (0.5, 0.5, 0.5))[0]
    used, threads = [], set()
    run = cascade.run

    def spy(name, x, one_thread=False):
        used.append(one_thread)
        threads.add(threading.get_ident())
        return run(name, x, one_thread)

    monkeypatch.setattr(cascade, "run", spy)
    # as when the server computes another photo at the same time
    with cascade.helper().split if other == "holds the helper" else cascade.detecting():
        boxes = detect_one(cascade, img, 20, (0.5, 0.5, 0.5))[0]
    assert used and all(used)  # every net on a one-thread session: the other image keeps the second core busy
    assert threads == {threading.get_ident()}  # nothing handed to the helper thread
    np.testing.assert_allclose(boxes, expected, atol=1e-5)


def test_one_thread_setting_keeps_the_cascade_on_one_thread(monkeypatch):
    from facexp.faces.backends.mtcnn import Cascade, weights_dir

    monkeypatch.setenv("FACEXP_THREADS", "1")
    cascade = Cascade(weights_dir())
    assert cascade.helper() is None and set(cascade.sessions) == {"pnet", "rnet", "onet"}


def test_a_forked_child_splits_stages_on_its_own_helper(astro, monkeypatch):
    """A DataLoader worker is a fork: the parent's helper thread is not in it, and waiting on it would hang."""
    import multiprocessing

    from facexp.faces.backends.mtcnn import Cascade, detect_one, weights_dir

    monkeypatch.setenv("FACEXP_THREADS", "2")
    cascade = Cascade(weights_dir())
    if not cascade.parallel or "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs two cores and fork")
    img = np.asarray(astro)
    expected = detect_one(cascade, img, 20, (0.5, 0.5, 0.5))[0]  # the parent's helper thread now exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(detect_one(cascade, img, 20, (0.5, 0.5, 0.5))[0]))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive, "the forked child hung waiting for its parent's helper thread"
    np.testing.assert_allclose(queue.get(timeout=10), expected, atol=1e-5)


@pytest.mark.parametrize("stage_scores", [(0.4, 0.5, 0.5), (0.6, 0.7, 0.7)])
def test_onnx_cascade_finds_what_facenet_pytorch_finds(astro, collage, stage_scores):
    """The numpy + ONNX Runtime cascade is facenet-pytorch's detect_face, step for step: same boxes,
    scores and landmarks on real faces, on a collage and on an image with no face."""
    import torch
    from facenet_pytorch import MTCNN
    from facenet_pytorch.models.utils.detect_face import detect_face

    from facexp.faces.backends.mtcnn import detect_one, load_cascade

    reference = MTCNN(keep_all=True, device="cpu").eval()
    noise = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    for img in (np.asarray(astro), np.asarray(collage.convert("RGB")), noise):
        with torch.inference_mode():
            boxes, points = detect_face(img[None], 20, reference.pnet, reference.rnet, reference.onet,
                                        list(stage_scores), 0.709, "cpu")
        got_boxes, got_points = detect_one(load_cascade(), img, 20, stage_scores)
        assert got_boxes.shape == np.asarray(boxes[0]).reshape(-1, 5).shape
        if len(got_boxes):
            assert np.abs(got_boxes - np.asarray(boxes[0], np.float64)).max() < 0.01
            assert np.abs(got_points - np.asarray(points[0], np.float64)).max() < 0.01


@pytest.mark.parametrize("out", [(256, 385), (182, 273), (17, 25), (427, 640), (5, 3)])
def test_pyramid_levels_are_the_area_means_torch_computes(astro, out):
    """The pyramid's whole-image pooling (two gathers of rows and columns) gives the very numbers of the
    per-region pooling the R- and O-net crops use, and torch's area interpolation (facenet-pytorch's)."""
    import torch

    from facexp.faces.backends.mtcnn import _integral, _pool, _pool_whole

    img = np.ascontiguousarray(np.asarray(astro)[:427, :, :])
    img = np.concatenate([img, img[:, :128]], axis=1)  # 427 x 640: sides that do not divide evenly
    ii = _integral(img)
    zero = np.zeros(1, np.int64)
    whole = _pool_whole(ii, *out)
    assert whole.shape == (1, 3, *out) and whole.dtype == np.float32 and whole.flags.c_contiguous
    assert np.array_equal(whole, _pool(ii, zero, zero, zero + 427, zero + 640, *out))
    reference = torch.nn.functional.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None].float(), size=out,
                                                mode="area")
    np.testing.assert_allclose(whole, ((reference - 127.5) * 0.0078125).numpy(), atol=1e-5)


@pytest.mark.parametrize("name, size", [("pnet", (37, 53)), ("rnet", (24, 24)), ("onet", (48, 48))])
def test_split_prelu_nets_compute_what_the_originals_do(name, size):
    """The rewrite that keeps ONNX Runtime in its blocked layout changes no output, padded channels
    included, and leaves no PReLU after a convolution in the exported graph (only after dense layers)."""
    import io

    import onnx
    import torch

    from facexp.faces.backends.blocked_prelu import blocked
    from facexp.faces.backends.mtcnn import _export, _torch_net

    x = torch.rand(5, 3, *size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.inference_mode():
        for want, got in zip(_torch_net(name)(x), blocked(_torch_net(name))(x)):
            assert torch.allclose(want, got, atol=1e-5)
    buf = io.BytesIO()
    _export(name, buf)
    graph = onnx.load_from_string(buf.getvalue()).graph
    producers = {out: node.op_type for node in graph.node for out in node.output}
    assert not [node for node in graph.node if node.op_type == "PRelu" and producers.get(node.input[0]) == "Conv"]


def test_second_pass_only_when_the_first_finds_no_face(astro):
    """``retry_scores``: an image with no face after the first pass is searched again with those
    thresholds; a face must still pass the retry's own O-net threshold."""
    strict = {"stage_scores": (0.999, 0.999, 0.999)}  # a first pass that passes no candidate on
    assert detect_faces(astro, settings=FaceSettings(**strict, retry_scores=None)) == []
    found = detect_faces(astro, settings=FaceSettings(**strict, retry_scores=(0.4, 0.5, 0.97)))
    assert len(found) == 1 and found[0].score >= 0.97
    assert detect_faces(astro, settings=FaceSettings(**strict, retry_scores=(0.4, 0.5, 1.0))) == []
    assert detect_faces(Image.fromarray(coffee()), settings=FaceSettings(**strict, retry_scores=(0.1, 0.2, 0.97))) == []


def test_the_nms_across_pyramid_levels_is_skipped_only_when_it_cannot_suppress():
    """Levels whose box areas differ more than the overlap limit cannot suppress each other: the boxes come
    back in score order, as the full NMS returns them; close levels, or overlapping ones, get the full NMS."""
    from facexp.faces.backends.mtcnn import LEVEL_NMS, _across_levels, _nms

    rng = np.random.default_rng(0)

    def level(side: float, n: int) -> np.ndarray:
        xy = rng.uniform(0, 400, (n, 2)).astype(np.float32)
        rows = np.concatenate([xy, xy + side, rng.uniform(0.4, 1, (n, 1)), np.zeros((n, 4))], axis=1)
        return rows[_nms(rows[:, :4], rows[:, 4], LEVEL_NMS)].astype(np.float32)

    for sides in ((20, 28.2, 39.8), (20, 22, 25), (20, 20.5)):  # the pyramid's 0.709 step; close levels
        found = [level(side, 300) for side in sides]
        boxes = np.concatenate(found)
        full = _nms(boxes[:, :4], boxes[:, 4], 0.7)
        assert np.array_equal(_across_levels(found, boxes, 0.7), full)
    assert len(full) < len(boxes)  # the close levels did suppress each other, and the full NMS ran


def test_the_upright_second_pass_thresholds_the_first_pass_pnet_maps_again(astro, monkeypatch):
    """P-net's maps do not depend on the thresholds: the upright retry runs no P-net of its own (a turned
    retry, a different picture, does), and finds what a pass from scratch with its thresholds finds."""
    from facexp.faces.backends import mtcnn

    strict = FaceSettings(stage_scores=(0.999, 0.999, 0.999), retry_scores=(0.4, 0.5, 0.97), retry_angles=())
    img = np.asarray(astro)
    runs = []
    run = mtcnn.Cascade.run
    monkeypatch.setattr(mtcnn.Cascade, "run", lambda self, name, x, one_thread=False: (
        runs.append(name), run(self, name, x, one_thread))[1])
    found = mtcnn.detect_mtcnn([img], strict)[0]
    first = runs.count("pnet")
    runs.clear()
    mtcnn.detect_one(mtcnn.load_cascade(), img, strict.min_face, strict.stage_scores)
    assert runs.count("pnet") == first  # the retry added none: all of them were the first pass's
    runs.clear()
    boxes, _ = mtcnn.detect_one(mtcnn.load_cascade(), img, strict.min_face, strict.retry_scores)  # from scratch
    assert [f.box for f in found] == [f.box for f in mtcnn._faces(boxes, np.zeros((len(boxes), 5, 2)))]
    assert len(found) == 1 and found[0].score >= 0.97
    runs.clear()
    mtcnn.detect_mtcnn([img], FaceSettings(stage_scores=(0.999, 0.999, 0.999), retry_scores=(0.4, 0.5, 1.0),
                                           retry_angles=(25.0,)))
    assert runs.count("pnet") == 2 * first  # first pass + the turned retry; the upright retry reused the maps


def test_second_pass_turns_the_image_for_a_tilted_face(astro):
    """``retry_angles``: a face turned 90 degrees is found by the second pass turned by 45 degrees, its
    box and landmarks mapped back onto the photo as it is."""
    upright = detect_faces(astro)[0]
    sideways = astro.rotate(90, resample=Image.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    assert detect_faces(sideways, settings=FaceSettings(retry_angles=())) == []
    found = detect_faces(sideways, settings=FaceSettings(retry_angles=(-45.0, 45.0)))
    assert len(found) == 1 and found[0].score >= 0.97
    x, y, w, h = upright.box
    cx, cy = y + h / 2, astro.width - (x + w / 2)  # where rotate(90) puts the upright face's centre
    fx, fy, fw, fh = found[0].box
    assert abs(fx + fw / 2 - cx) < 20 and abs(fy + fh / 2 - cy) < 20 and abs(fw - w) < 25
    assert -100 < eye_angle(found[0]) < -70  # the eyes, mapped back, run up the photo
