"""Independent PyTorch check of the Rust CTR trainer: trains the same DCNv2 (FLIP spec shapes)
on a dataset prepared by `cargo xtask prepare`, with the same protocol (Adam lr 1e-3, batch
1024, mean BCE, early stopping on validation AUC with patience 2, best epoch restored), and
prints test AUC and LogLoss. Same data, same model, different framework: the two AUCs should
agree within the seed spread.

Usage: python scripts/reference/train_torch.py $FLIP_HOME/prepared/ml-1m-temporal [seed]
(needs torch, pyarrow, scikit-learn)
"""
import json
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import torch
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn

D, L, E, R = 32, 2, 4, 32


def load(path):
    t = pq.read_table(path, columns=["ids", "label"])
    ids = np.stack(t.column("ids").to_numpy(zero_copy_only=False)).astype(np.int64)
    return torch.from_numpy(ids), torch.from_numpy(t.column("label").to_numpy().astype(np.float32))


class DCNv2(nn.Module):
    def __init__(self, v, m):
        super().__init__()
        n = m * D
        self.emb, self.lin = nn.Embedding(v, D), nn.Embedding(v, 1)
        nn.init.normal_(self.emb.weight, std=1e-4)
        nn.init.normal_(self.lin.weight, std=1e-4)
        std_uv, std_c = (2 / (n * R + E * R)) ** 0.5, (2 / (R * R + E * R)) ** 0.5
        self.U = nn.Parameter(torch.randn(L, E, n, R) * std_uv)
        self.V = nn.Parameter(torch.randn(L, E, n, R) * std_uv)
        self.C = nn.Parameter(torch.randn(L, E, R, R) * std_c)
        self.gates = nn.ModuleList(nn.Linear(n, 1, bias=False) for _ in range(E))
        self.bias = nn.Parameter(torch.zeros(L, n, 1))
        layers, width = [], n
        for h in (300, 300, 128):
            lin = nn.Linear(width, h)
            nn.init.normal_(lin.weight, std=1e-4)
            layers += [lin, nn.ReLU()]
            width = h
        self.dnn = nn.Sequential(*layers)
        self.out = nn.Linear(n + 128, 1, bias=False)
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, ids):
        x0 = self.emb(ids).flatten(1).unsqueeze(2)
        x = x0
        for i in range(L):
            outs, gates = [], []
            for e in range(E):
                gates.append(self.gates[e](x.squeeze(2)))
                h = torch.tanh(torch.matmul(self.V[i][e].t(), x))
                h = torch.tanh(torch.matmul(self.C[i][e], h))
                outs.append((x0 * (torch.matmul(self.U[i][e], h) + self.bias[i])).squeeze(2))
            x = torch.matmul(torch.stack(outs, 2), torch.stack(gates, 1).softmax(1)) + x
        h = torch.cat([x.squeeze(2), self.dnn(x0.squeeze(2))], 1)
        return self.lin(ids).sum((1, 2)) + self.out(h).squeeze(1) + self.b


def predict(model, ids):
    model.eval()
    with torch.inference_mode():
        return torch.cat([torch.sigmoid(model(ids[i : i + 8192])) for i in range(0, len(ids), 8192)]).numpy()


def main():
    root, seed = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2012
    meta = json.load(open(f"{root}/meta.json"))
    splits = {k: load(f"{root}/{meta['splits'][k]['file']}") for k in ("train", "valid", "test")}
    torch.manual_seed(seed)
    model = DCNv2(meta["vocab_size"], len(meta["fields"]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    (x, y), best, since = splits["train"], (-1, 0, None), 0
    g = torch.Generator().manual_seed(seed)
    for epoch in range(1, 11):
        model.train()
        t = time.perf_counter()
        for idx in torch.randperm(len(x), generator=g).split(1024):
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        vx, vy = splits["valid"]
        auc = roc_auc_score(vy.numpy(), predict(model, vx))
        print(f"epoch {epoch}: valid AUC {auc:.4f} ({time.perf_counter() - t:.0f} s)", flush=True)
        if auc > best[0]:
            best, since = (auc, epoch, {k: v.clone() for k, v in model.state_dict().items()}), 0
        else:
            since += 1
            if since >= 2:
                break
    model.load_state_dict(best[2])
    tx, ty = splits["test"]
    p = predict(model, tx)
    print(json.dumps({"seed": seed, "best_epoch": best[1], "test_auc": roc_auc_score(ty.numpy(), p), "test_logloss": log_loss(ty.numpy(), p)}))


if __name__ == "__main__":
    main()
