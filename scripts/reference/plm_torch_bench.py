"""PyTorch eager reference for `cargo xtask bench plm`: a MiniLM-shaped BERT (6 layers, 384
wide, 12 heads, FFN 1536, vocabulary 30,522, random weights) at batch 32, sequence lengths 64,
100 and 56; training steps with a [CLS] linear head, BCE and AdamW, and inference passes; best
of 3 runs each, on the CPU threads available.

Usage: python scripts/reference/plm_torch_bench.py   (needs torch and transformers)
"""
import json
import time

import torch
from torch import nn
from transformers import BertConfig, BertModel

CONFIG = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                    intermediate_size=1536, attn_implementation="sdpa")


def run(model, head, opt, batch, length, steps, train):
    g = torch.Generator().manual_seed(0)
    model.train(train)
    best = 0.0
    for _ in range(3):
        for i in range(2 + steps):
            if i == 2:
                t = time.perf_counter()
            ids = torch.randint(1000, 30522, (batch, length), generator=g)
            mask = torch.ones_like(ids)
            if train:
                opt.zero_grad()
                logits = head(model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]).squeeze(1)
                nn.functional.binary_cross_entropy_with_logits(logits, (torch.arange(batch) % 2).float()).backward()
                opt.step()
            else:
                with torch.inference_mode():
                    head(model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]).sum().item()
        best = max(best, batch * steps / (time.perf_counter() - t))
    return best


def main():
    torch.manual_seed(0)
    model, head = BertModel(CONFIG), nn.Linear(384, 1)
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=5e-5, weight_decay=1e-3)
    for length in (64, 100, 56):
        for train in (True, False):
            sps = run(model, head, opt, 32, length, 3 if train else 5, train)
            print(json.dumps({"scenario": "plm_train" if train else "plm_infer", "framework": f"torch {torch.__version__}",
                              "threads": torch.get_num_threads(), "batch": 32, "length": length, "samples_per_second": sps}))


if __name__ == "__main__":
    main()
