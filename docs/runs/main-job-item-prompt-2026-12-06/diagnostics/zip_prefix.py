# A one-off check (not a maintained script): the training click rate of zip-code prefixes and user fields, on the validation and test rows, all and those whose zip code is OOV in the ID vocabulary (zip-oov rows). Paths are this session's FLIP_HOME=/tmp/fliphome.
import pandas as pd, numpy as np, pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score
raw='/tmp/fliphome/raw/ml-100k/'; prep='/tmp/fliphome/prepared/ml-100k-temporal/'
inter=pd.read_csv(raw+'ml-100k.inter',sep='\t'); inter.columns=[c.split(':')[0] for c in inter.columns]
users=pd.read_csv(raw+'ml-100k.user',sep='\t',dtype=str); users.columns=[c.split(':')[0] for c in users.columns]
users['user_id']=users.user_id.astype(int)
def load(s):
    t=pq.read_table(prep+s+'.parquet',columns=['source_row','label','ids']).to_pandas()
    r=inter.iloc[t.source_row.values].reset_index(drop=True)
    t['user_id']=r.user_id.values; t=t.merge(users,on='user_id',how='left')
    t['zip_oov']=[ids[4] for ids in t.ids]; t['user_oov']=[ids[0] for ids in t.ids]
    return t
tr,va,te=load('train'),load('valid'),load('test')
print('test zip oov id counts', te.zip_oov.value_counts().head(3).to_dict())
oovz=te.zip_oov.value_counts().idxmax()
prior=tr.label.mean()
for name,df in [('valid',va),('test',te)]:
    for col,f in [('zip1',lambda z:z.str[:1]),('zip2',lambda z:z.str[:2]),('zip3',lambda z:z.str[:3]),('zip5',lambda z:z),('occupation',lambda z:z),('age',lambda z:z),('gender',lambda z:z)]:
        src='zip_code' if col.startswith('zip') else col
        k_tr=f(tr[src]); k=f(df[src])
        g=tr.groupby(k_tr).label.agg(['sum','count'])
        rate=(g['sum']+10*prior)/(g['count']+10)
        s=k.map(rate).fillna(prior).values
        mask=df.zip_oov==oovz
        print(name,col,'all %.4f'%roc_auc_score(df.label,s),'zip-oov rows %.4f (%d)'%(roc_auc_score(df.label[mask],s[mask]),mask.sum()))
print('distinct users: train %d valid %d test %d; test users not in train %d'%(tr.user_id.nunique(),va.user_id.nunique(),te.user_id.nunique(),len(set(te.user_id)-set(tr.user_id))))
# oracle: each test user's own click rate (how much of the AUC is between-user base rate)
ur=te.groupby('user_id').label.transform('mean'); print('test AUC of each test user own click rate (oracle) %.4f'%roc_auc_score(te.label,ur))
for name,df in [('valid',va),('test',te)]:
    print(name,'distinct users %d, not in train %d, rows of new users %d'%(df.user_id.nunique(),len(set(df.user_id)-set(tr.user_id)),(~df.user_id.isin(tr.user_id)).sum()))
    ur=df.groupby('user_id').label.transform('mean'); print(name,'AUC of each user own click rate (oracle) %.4f'%roc_auc_score(df.label,ur))
