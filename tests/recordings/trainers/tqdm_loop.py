"""A plain torch loop with a tqdm bar per epoch and a loss postfix."""
import torch
from tqdm import tqdm

torch.manual_seed(0)
model = torch.nn.Linear(16, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for epoch in range(3):
    bar = tqdm(range(150), desc=f"epoch {epoch + 1}/3")
    for _ in bar:
        x = torch.randn(8, 16)
        loss = torch.nn.functional.mse_loss(model(x), x[:, :1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
