"""Class offsets: the head's bias refit to a user's classes before fine-tuning from a facexp model.

The head rows copied from the starting model carry its own training data's class balance and
labelling habits in their biases (FER+ has about four happy faces for each laughing one), and
the gentle fine-tune from a facexp model moves a bias by at most its learning rate per step:
about 0.1 over a whole small-data run, while a user's balanced classes can call for a shift of
1-2 logits. On the journey benchmark (``benchmarks/bench_journey.py``, as it was until 2026-12-05:
the user's photos drawn from FER2013 train) the default restricted to
happy/laughing/sad/surprise called 21 of 100 laughing test faces happy, and after fine-tuning
still 11-18. One offset per class, fitted to the training images with every weight fixed, is a
convex problem solved in milliseconds; on the nine journey runs' training faces it gave -0.6 to
-1.1 for happy and +0.6 to +1.2 for laughing, and 87.2/87.2/87.8% test accuracy at 25/50/100
photos per class against 86.0/87.6/87.1% without (better in 7 of 9 runs).
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

PRIOR_WEIGHT = 1.0  # a N(0, 1) prior on each offset: a handful of images cannot push one far


def fit_class_offsets(model: torch.nn.Module, head: str, dls, loss_func) -> dict[str, float] | None:
    """Shift the logits of ``model``'s final Linear (named ``head``) by the per-class offsets that
    minimise ``loss_func`` on the training split (validation transforms, weights fixed).

    Returns the offsets by class, or None when the head has neither a bias nor a BatchNorm before it.
    """
    linear = model.get_submodule(head)
    shift_of = _shift_of(model, linear)
    if shift_of is None:
        return None
    logits, targets, first = _training_logits(model, dls)
    offsets = torch.zeros(logits.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([offsets], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_func(logits + offsets, targets) + PRIOR_WEIGHT * 0.5 * offsets.pow(2).sum() / len(logits)
        loss.backward()
        return loss

    optimizer.step(closure)
    shift = (offsets - offsets.mean()).detach()  # softmax ignores a common shift; keep the biases centred
    target, delta = shift_of(shift)
    with torch.no_grad():
        target += delta.to(target.device, target.dtype)
    moved = _outputs(model, first) - logits[:len(first)]
    if not torch.allclose(moved, shift.expand_as(moved), atol=1e-3):  # a layer between the BatchNorm and the Linear
        with torch.no_grad():
            target -= delta.to(target.device, target.dtype)
        log.info("class offsets not applied: this head's logits cannot be shifted exactly")
        return None
    return {c: round(float(v), 4) for c, v in zip(dls.vocab, shift)}


def _shift_of(model: torch.nn.Module, linear: torch.nn.Linear):
    """How to add a vector to the logits: (parameter, change) for a logit shift, or None.

    The Linear's own bias when it has one. fastai's head ends BatchNorm1d → Dropout → Linear
    without a bias; there the BatchNorm's shift β moves by the least-norm ``d`` with ``W d =
    shift`` (exact: W has far more inputs than classes), which dropout leaves unchanged on average.
    """
    if linear.bias is not None:
        return lambda shift: (linear.bias, shift)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    before = [m for m in norms if m.num_features == linear.in_features and m.affine]
    if not before:
        return None
    norm = before[-1]
    weight = linear.weight.detach().double()
    return lambda shift: (norm.bias, (torch.linalg.pinv(weight) @ shift.double()).float())


def _training_logits(model: torch.nn.Module, dls) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The network's outputs and targets for every training image, framed as for validation, and the
    first batch's inputs."""
    outputs, targets, first = [], [], None
    for xb, yb in dls.test_dl(dls.train_ds.items, with_labels=True):
        first = torch.as_tensor(xb).as_subclass(torch.Tensor) if first is None else first
        outputs.append(_outputs(model, xb))
        targets.append(torch.as_tensor(yb).as_subclass(torch.Tensor))
    return torch.cat(outputs), torch.cat(targets), first


def _outputs(model: torch.nn.Module, xb) -> torch.Tensor:
    """``model``'s outputs for a batch in eval mode (then back to the mode it was in)."""
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        out = model(torch.as_tensor(xb)).as_subclass(torch.Tensor).float()
    model.train(was_training)
    return out.clone()  # a normal tensor: inference tensors cannot take part in the fit's autograd
