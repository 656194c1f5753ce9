# The α sweep of tower_logits_dump.rs output: α chosen on validation rows (several ways) and in hindsight on the test rows.
import sys, numpy as np, csv
from sklearn.metrics import roc_auc_score as auc
rows = list(csv.DictReader(open(sys.argv[1])))
def arr(split, key, cond=lambda r: True, f=float):
    return np.array([f(r[key]) for r in rows if r['split']==split and cond(r)])
V = {k: arr('valid', k) for k in ['label','seen','id','plm']}
role = np.array([r['role'] for r in rows if r['split']=='valid'])
T = {k: arr('test', k) for k in ['label','seen','id','plm']}
grid = np.arange(0,101)/100
def mix(D, a, idx=None):
    z = a*D['id'] + (1-a)*D['plm']
    return z
def best(D, mask):
    vals = [auc(D['label'][mask], mix(D,a)[mask]) for a in grid]
    i = max(range(len(grid)), key=lambda i: (vals[i], grid[i]))
    return grid[i], vals[i]
print("test: FLIP_ID %.4f FLIP_PLM %.4f; seen rows %.3f" % (auc(T['label'],T['id']), auc(T['label'],T['plm']), T['seen'].mean()))
for name, mask in [('mixing 2000', role=='mixing'), ('not select (8000)', role!='select'), ('all valid', role==role)]:
    a, v = best(V, mask)
    t = auc(T['label'], mix(T,a))
    print(f"alpha on {name}: {a:.2f} (valid {v:.4f}, ID alone {auc(V['label'][mask], V['id'][mask]):.4f}) -> test {t:.4f} ({t-auc(T['label'],T['id']):+.4f})")
tv = [auc(T['label'], mix(T,a)) for a in grid]
i = int(np.argmax(tv)); print(f"oracle test alpha {grid[i]:.2f}: {tv[i]:.4f} ({tv[i]-tv[-1]:+.4f})")
print("test AUC by alpha:", ' '.join(f"{grid[j]:.2f}:{tv[j]:.4f}" for j in range(50,101,5)))
# per-segment alphas
def mix2(D, a_s, a_u):
    a = np.where(D['seen']==1, a_s, a_u)
    return a*D['id'] + (1-a)*D['plm']
g2 = np.arange(0,101,2)/100
for name, mask in [('mixing 2000', role=='mixing'), ('not select (8000)', role!='select')]:
    best2 = max(((auc(V['label'][mask], mix2(V,a,b)[mask]), a, b) for a in g2 for b in g2), key=lambda x:(x[0], x[1]+x[2]))
    t = auc(T['label'], mix2(T, best2[1], best2[2]))
    print(f"segment alphas on {name}: seen {best2[1]:.2f} new {best2[2]:.2f} (valid {best2[0]:.4f}) -> test {t:.4f} ({t-auc(T['label'],T['id']):+.4f})")
for seg in [1,0]:
    m = T['seen']==seg
    print(f"test seen={seg}: ID {auc(T['label'][m],T['id'][m]):.4f} PLM {auc(T['label'][m],T['plm'][m]):.4f}  valid seen={seg} n={int((V['seen']==seg).sum())}")
