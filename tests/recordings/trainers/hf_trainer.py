"""transformers Trainer on a tiny GPT-2 built from a config (no hub), random tokens, CPU."""
import sys
import tempfile

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

torch.manual_seed(0)
cfg = GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=128, n_positions=32)
model = GPT2LMHeadModel(cfg)


class Rand(torch.utils.data.Dataset):
    def __init__(self, n):
        self.x = torch.randint(0, 128, (n, 16))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.x[i]}


out = tempfile.mkdtemp(prefix="hf-rec-")
args = TrainingArguments(output_dir=out, max_steps=int(sys.argv[1]) if len(sys.argv) > 1 else 60,
                         per_device_train_batch_size=4, per_device_eval_batch_size=4, logging_steps=5,
                         eval_strategy="steps", eval_steps=20, save_steps=20, learning_rate=3e-3,
                         report_to="none", use_cpu=True, dataloader_num_workers=0)
Trainer(model=model, args=args, train_dataset=Rand(400), eval_dataset=Rand(40)).train()
