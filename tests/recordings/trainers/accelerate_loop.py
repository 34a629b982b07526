"""An accelerate loop as its examples write it: tqdm on the main process, accelerator.print per epoch,
save_state with automatic checkpoint naming."""
import tempfile

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration
from tqdm.auto import tqdm

torch.manual_seed(0)
out = tempfile.mkdtemp(prefix="acc-rec-")
acc = Accelerator(cpu=True, project_config=ProjectConfiguration(project_dir=out, automatic_checkpoint_naming=True))
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
x, y = torch.randn(640, 16), torch.randn(640, 1)
dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
model, opt, dl = acc.prepare(model, opt, dl)
epochs = 3
bar = tqdm(range(epochs * len(dl)), disable=not acc.is_local_main_process)
step = 0
for epoch in range(epochs):
    model.train()
    for xb, yb in dl:
        loss = torch.nn.functional.mse_loss(model(xb), yb)
        acc.backward(loss)
        opt.step()
        opt.zero_grad()
        bar.update(1)
        step += 1
        if step % 20 == 0:
            acc.print(f"step {step}: loss {loss.item():.4f}")
    acc.print(f"epoch {epoch}: {{'loss': {loss.item():.4f}, 'accuracy': 0.5}}")
    acc.save_state()
