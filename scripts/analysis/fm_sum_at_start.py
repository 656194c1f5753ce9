"""The logit a pretrained FM/DeepFM's parameter-free FM sum adds at the start of finetuning,
before any finetuning step: 0.5 * sum_k [(sum_f e_fk)^2 - sum_f e_fk^2] over the looked-up
embedding vectors e_f of each row's fields, for every Nth training row of a prepared dataset,
with its spread, how much of the click it ranks alone (AUC against the label), and the same
after centring each field's looked-up vectors by their mean over the sampled rows.

    python scripts/analysis/fm_sum_at_start.py $RUN/pretrain/id-model.bpk \
        $FLIP_HOME/prepared/ml-1m-short-temporal --every 40

A fresh DeepFM starts with its embeddings at N(0, 1e-4), so its FM sum is ~0 and the tower's
logit starts from the bias and the DNN; a pretrained one does not, and whatever constant and
ranking its FM sum brings is there from the first finetuning step. `--table` names the
embedding tensor (default: the one whose name ends with `emb.table`). Needs numpy, pyarrow,
scipy and cbor2."""
import argparse
import pathlib
import struct

import cbor2
import numpy as np
import pyarrow.parquet as pq
from scipy.stats import rankdata

# Little-endian element types of burn's `DType` names (burn-std 0.22.1, tensor/dtype.rs) that
# map straight onto numpy; BF16, Bool and quantized tensors are not read here.
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1"}


def read_burnpack(path):
    """Every tensor of a burnpack (.bpk) file, as numpy arrays keyed by name.

    Layout, from burn-pack 0.22.1 (src/lib.rs, src/base.rs, src/reader.rs, src/writer.rs), the
    crate behind burn-store 0.22.1's src/burnpack.rs; all integers little-endian:
    - a 10-byte header: magic u32 0x4255524E (the bytes "NRUB"), format version u16 (the reader
      refuses versions above 1), metadata size u32;
    - that many bytes of CBOR metadata: a map with `tensors` (name -> {dtype, shape,
      data_offsets: [start, end], optional param_id}) and optional `metadata` (string pairs)
      and `scalars`; dtype is serde's form of burn's `DType`, a name such as "F32" for the
      plain element types;
    - zero padding up to the data section, which starts at 10 + metadata size rounded up to a
      multiple of 256 (`aligned_data_section_start`); each tensor's bytes lie at its
      data_offsets relative to that start (the writer aligns each start to 256 too)."""
    data = pathlib.Path(path).read_bytes()
    if len(data) < 10 or data[:4] != b"NRUB":
        raise ValueError(f"{path}: not a burnpack file (no 'NRUB' magic)")
    version, metadata_size = struct.unpack_from("<HI", data, 4)
    if version > 1:
        raise ValueError(f"{path}: burnpack format version {version}, this reader knows 1")
    metadata = cbor2.loads(data[10:10 + metadata_size])
    data_start = -(-(10 + metadata_size) // 256) * 256
    tensors = {}
    for name, descriptor in metadata["tensors"].items():
        dtype, shape = descriptor["dtype"], [int(size) for size in descriptor["shape"]]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ValueError(f"{path}: tensor '{name}' has dtype {dtype!r}; this reader handles "
                             f"{', '.join(DTYPES)}")
        start, end = (data_start + int(offset) for offset in descriptor["data_offsets"])
        element = np.dtype(DTYPES[dtype])
        if end > len(data) or end - start != element.itemsize * int(np.prod(shape)):
            raise ValueError(f"{path}: tensor '{name}' bytes {start}..{end} do not fit the file "
                             f"({len(data)} bytes) or its {dtype} shape {shape}")
        tensors[name] = np.frombuffer(data, element, (end - start) // element.itemsize,
                                      start).reshape(shape)
    return tensors


def fm_sum(vectors):
    """FM second-order term of each row of [rows, fields, dim] looked-up vectors."""
    return 0.5 * (vectors.sum(axis=1) ** 2 - (vectors ** 2).sum(axis=1)).sum(axis=1)


def auc(labels, scores):
    """Mann-Whitney AUC with tied scores sharing their mean rank."""
    ranks = rankdata(scores)
    positives = labels.sum()
    negatives = len(labels) - positives
    return (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)


parser = argparse.ArgumentParser()
parser.add_argument("model", type=pathlib.Path, help="a pretrained FM/DeepFM .bpk file")
parser.add_argument("prepared", type=pathlib.Path, help="a prepared dataset folder")
parser.add_argument("--every", type=int, default=40, help="use every Nth training row")
parser.add_argument("--table", help="embedding tensor (default: the one ending in `emb.table`)")
args = parser.parse_args()

tensors = read_burnpack(args.model)
if args.table is None:
    tables = [name for name in tensors if name.endswith("emb.table")]
    if len(tables) != 1:
        parser.error(f"{len(tables)} tensors end with `emb.table` ({', '.join(tables)}); "
                     "name one with --table")
    args.table = tables[0]
if args.table not in tensors:
    parser.error(f"no tensor `{args.table}` in {args.model}")
table = tensors[args.table].astype(np.float64)

train = pq.read_table(args.prepared / "train.parquet", columns=["ids", "label"])
ids = train.column("ids").combine_chunks()
ids = ids.flatten().to_numpy().reshape(len(ids), ids.type.list_size)[::args.every]
labels = train.column("label").to_numpy().astype(np.int64)[::args.every]
vectors = table[ids]  # rows, fields, dim

fm = fm_sum(vectors)
centred = fm_sum(vectors - vectors.mean(axis=0, keepdims=True))
print(f"{args.model}: `{args.table}` {list(table.shape)}; {args.prepared.name}, 1 training row "
      f"in {args.every} ({len(labels)} rows, click rate {labels.mean():.4f})")
print(f"FM sum: mean {fm.mean():.4f} sd {fm.std():.4f} p1 {np.percentile(fm, 1):.4f} "
      f"p99 {np.percentile(fm, 99):.4f} auc {auc(labels, fm):.4f}")
print("per-field rms of the looked-up vectors:",
      " ".join(f"{rms:.4f}" for rms in np.sqrt((vectors ** 2).mean(axis=(0, 2)))))
print(f"FM sum with each field's vectors centred on their sampled mean: mean {centred.mean():.4f} "
      f"sd {centred.std():.4f} auc {auc(labels, centred):.4f}")
