"""PyTorch eager reference for `cargo xtask bench id`: the same DCNv2 (FLIP spec shapes:
8 fields x 32, cross 2 layers x 4 experts x rank 32, DNN 300-300-128, vocabulary 16,939),
Adam and BCE at batch 1024 for training, batch 8192 for scoring, on the CPU threads available.

Usage: python scripts/reference/dcnv2_torch_bench.py   (needs torch)
"""
import json
import time

import torch
from torch import nn

FIELDS = [6040, 2, 7, 21, 3439, 3706, 3706, 18]
D, L, E, R = 32, 2, 4, 32


class DCNv2(nn.Module):
    def __init__(self):
        super().__init__()
        v = sum(FIELDS)
        n = len(FIELDS) * D
        self.emb = nn.Embedding(v, D)
        self.lin = nn.Embedding(v, 1)
        nn.init.normal_(self.emb.weight, std=1e-4)
        nn.init.normal_(self.lin.weight, std=1e-4)
        self.U = nn.Parameter(torch.randn(L, E, n, R) * (2 / (n * R + E * R)) ** 0.5)
        self.V = nn.Parameter(torch.randn(L, E, n, R) * (2 / (n * R + E * R)) ** 0.5)
        self.C = nn.Parameter(torch.randn(L, E, R, R) * (2 / (R * R + E * R)) ** 0.5)
        self.gates = nn.ModuleList(nn.Linear(n, 1, bias=False) for _ in range(E))
        self.bias = nn.Parameter(torch.zeros(L, n, 1))
        self.dnn = nn.Sequential(nn.Linear(n, 300), nn.ReLU(), nn.Linear(300, 300), nn.ReLU(), nn.Linear(300, 128), nn.ReLU())
        self.out = nn.Linear(n + 128, 1, bias=False)
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, ids):
        x0 = self.emb(ids).flatten(1).unsqueeze(2)  # (B, n, 1), the official CrossNetMix layout
        x = x0
        for i in range(L):
            outs, gates = [], []
            for e in range(E):
                gates.append(self.gates[e](x.squeeze(2)))
                h = torch.tanh(torch.matmul(self.V[i][e].t(), x))
                h = torch.tanh(torch.matmul(self.C[i][e], h))
                outs.append((x0 * (torch.matmul(self.U[i][e], h) + self.bias[i])).squeeze(2))
            outs = torch.stack(outs, 2)
            gates = torch.stack(gates, 1).softmax(1)
            x = torch.matmul(outs, gates) + x
        h = torch.cat([x.squeeze(2), self.dnn(x0.squeeze(2))], 1)
        return self.lin(ids).sum((1, 2)) + self.out(h).squeeze(1) + self.b


def batch(rows, g):
    cols = [torch.randint(0, n, (rows,), generator=g) + off for n, off in zip(FIELDS, [sum(FIELDS[:i]) for i in range(len(FIELDS))])]
    return torch.stack(cols, 1)


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = DCNv2()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    results = []
    steps, warm = 30, 3
    for i in range(warm + steps):
        if i == warm:
            t = time.perf_counter()
        ids = batch(1024, g)
        y = (ids[:, 0] % 2).float()
        opt.zero_grad()
        loss_fn(model(ids), y).backward()
        opt.step()
    dt = time.perf_counter() - t
    results.append({"scenario": "id_train", "framework": f"torch {torch.__version__}", "threads": torch.get_num_threads(), "batch": 1024, "samples_per_second": 1024 * steps / dt})
    model.eval()
    steps = 10
    with torch.inference_mode():
        for i in range(2 + steps):
            if i == 2:
                t = time.perf_counter()
            model(batch(8192, g)).sum().item()
    dt = time.perf_counter() - t
    results.append({"scenario": "id_infer", "framework": f"torch {torch.__version__}", "threads": torch.get_num_threads(), "batch": 8192, "samples_per_second": 8192 * steps / dt})
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
