"""One epoch of fine-tuning, as both trained models do it: AdamW, a linear warm-up then linear
decay, gradients clipped at 1.0, and a progress bar with the running loss. The caller says how
each step's loss is computed. Leaves out data, models and saving.
"""

from __future__ import annotations

from collections.abc import Callable


def epoch(model, steps: int, loss_at: Callable, *, learning_rate: float, warmup: float,  # noqa: ANN001
          desc: str) -> list[float]:
    """Run `steps` optimizer steps, `loss_at(step)` giving each one's loss; the losses."""
    import torch
    from tqdm import tqdm

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    ramp = max(1, int(warmup * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / ramp, max(0.0, (steps - s) / max(1, steps - ramp))))
    losses: list[float] = []
    bar = tqdm(range(steps), desc=desc, unit="step")
    for step in bar:
        loss = loss_at(step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
    return losses
