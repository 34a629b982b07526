"""kohya sd-scripts' shape: `epoch k/N` lines and a `steps` bar with an avr_loss postfix."""
import math
import time

from tqdm import tqdm

total, epochs = 600, 3
bar = tqdm(range(total), smoothing=0, desc="steps")
step, losses = 0, []
for epoch in range(epochs):
    print(f"\nepoch {epoch + 1}/{epochs}")
    for _ in range(total // epochs):
        time.sleep(0.004)
        losses.append(0.12 + 0.05 * math.sin(step / 7))
        step += 1
        bar.update(1)
        bar.set_postfix(avr_loss=sum(losses[-50:]) / len(losses[-50:]))
    print(f"\nsaving checkpoint: last-{epoch + 1:06d}.safetensors")
