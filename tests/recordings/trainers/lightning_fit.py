"""Lightning fit of a tiny module, with the tqdm bar (argv[1] == tqdm) or the Rich bar (rich)."""
import sys
import tempfile

import lightning as L
import torch
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))

    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, i):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-2)


torch.manual_seed(0)
data = torch.utils.data.TensorDataset(torch.randn(800, 16), torch.randn(800, 1))
train = torch.utils.data.DataLoader(data, batch_size=8)
val = torch.utils.data.DataLoader(torch.utils.data.Subset(data, range(160)), batch_size=8)
bar = RichProgressBar() if sys.argv[1:] == ["rich"] else TQDMProgressBar()
L.Trainer(max_epochs=4, accelerator="cpu", callbacks=[bar], default_root_dir=tempfile.mkdtemp(prefix="pl-rec-"),
          enable_model_summary=True).fit(Tiny(), train, val)
