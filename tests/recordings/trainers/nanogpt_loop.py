"""A nanoGPT-style loop: `iter N: loss L, time Tms, mfu M%` and `step N: train loss A, val loss B`."""
import time

import torch

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Embedding(64, 32), torch.nn.Linear(32, 64))
opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
t0 = time.time()
for it in range(301):
    if it % 100 == 0:
        print(f"step {it}: train loss {4.2 - it / 100:.4f}, val loss {4.3 - it / 100:.4f}")
        if it > 0:
            print("saving checkpoint to out-rec")
    x = torch.randint(0, 64, (8, 16))
    loss = torch.nn.functional.cross_entropy(model(x).view(-1, 64), x.view(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    t1 = time.time()
    if it % 10 == 0:
        print(f"iter {it}: loss {loss.item():.4f}, time {(t1 - t0) * 1000:.2f}ms, mfu {1.5 + it / 1000:.2f}%")
    t0 = t1
    time.sleep(0.005)
