# One-off: extract facts (names, flags, help texts, error docs) from xapi sources into JSON data.
import re, json, subprocess
R='/work/.mirror/xapi-project+xen-api/repo'
def show(p): return subprocess.check_output(['git','-C',R,'show','HEAD:'+p]).decode()
dm=json.load(open('/work/shared/reference/xenapi-datamodel.json'))
classes=[c['name'] for c in dm]
dmfields={c['name']:set(f['name'] for f in c['fields']) for c in dm}
prefixes=sorted(((c[0].lower()+c[1:]+'_',c) for c in classes), key=lambda x:-len(x[0]))
rec=show('ocaml/xapi-cli-server/records.ml')
out={}
for m in re.finditer(r'^let ([a-z_0-9]+)_record rpc session_id \w+ =\n', rec, re.M):
    start=m.end(); nxt=re.search(r'^let ', rec[start:], re.M)
    body=rec[start: start+nxt.start() if nxt else len(rec)]
    i=body.find('fields=')
    if i<0: continue
    blocks=re.split(r'\bmake_field\b', body[i:])[1:]
    fields=[]
    for b in blocks:
        nm=re.search(r'~name:"([^"]+)"', b)
        if not nm: continue
        acc=None; cls=None
        for a in re.finditer(r'API\.([A-Za-z_0-9]+)', b):
            s=a.group(1)
            for p,c in prefixes:
                if s.startswith(p) and s[len(p):] in dmfields[c]:
                    acc=s[len(p):]; cls=c; break
            if acc: break
        get=b.split('~set')[0] if '~set' in b else b
        f={'name':nm.group(1)}
        if cls: f['cls']=cls; f['field']=acc
        if re.search(r'get_uuid_from_ref|get_uuid_map_from_ref', get[:400]): f['via']='uuid'
        if re.search(r'get_name_from_ref', get[:400]) and 'via' not in f: f['via']='name'
        for flag in ['set','add_to_set','add_to_map','get_set','get_map']:
            if re.search(r'~'+flag+r'\b', b): f[flag]=True
        for flag in ['hidden','expensive','deprecated','case_insensitive']:
            if re.search(r'~'+flag+r':true', b): f[flag]=True
        fields.append(f)
    out[m.group(1)]=fields
json.dump(out, open('/tmp/xe/records.json','w'), indent=0)
print({k:len(v) for k,v in out.items()})
# errors
ae=show('ocaml/xapi-consts/api_errors.ml')
codes=dict(re.findall(r'^let ([a-z_0-9]+) =\s*add_error\s*"([^"]+)"', ae, re.M))
de=show('ocaml/idl/datamodel_errors.ml')
errs={}
for m in re.finditer(r'error\s+Api_errors\.([a-z_0-9]+)\s*\[([^\]]*)\]\s*~doc:\s*"((?:[^"\\]|\\[\s\S])*)"', de, re.S):
    ident, ps, doc = m.groups()
    code=codes.get(ident, ident.upper())
    ps=re.findall(r'"([^"]*)"', ps)
    doc=re.sub(r'\\\n\s*', '', doc).replace('\\"','"').replace("\\'","'")
    errs[code]={'params':ps,'doc':doc}
json.dump(errs, open('/tmp/xe/errors.json','w'), indent=0, sort_keys=True)
print(len(codes), len(errs))
# commands
fe=show('ocaml/xapi-cli-server/cli_frontend.ml')
cmds={}
def ocstr(s): return re.sub(r'\\\n\s*', '', s).replace('\\"','"').replace("\\'","'")
for m in re.finditer(r'\(\s*"([a-z0-9-]+)"\s*,\s*\{(.*?)\}\s*\)', fe, re.S):
    name, b = m.groups()
    reqd=re.search(r'reqd\s*=\s*\[(.*?)\]', b, re.S); optn=re.search(r'optn\s*=\s*(.*?)\s*;\s*help', b, re.S)
    help=re.search(r'help\s*=\s*(.*?)\s*;\s*implementation', b, re.S)
    flags=re.search(r'flags\s*=\s*\[(.*?)\]', b, re.S)
    if not (reqd and help and flags): continue
    hs=help.group(1)
    htxt=''.join(ocstr(x) for x in re.findall(r'"((?:[^"\\]|\\[\s\S])*)"', hs))
    sel=[]
    if 'vmselectorsinfo' in hs: sel.append('vm')
    if 'hostselectorsinfo' in hs: sel.append('host')
    if 'srselectorsinfo' in hs: sel.append('sr')
    ostr=optn.group(1) if optn else '[]'
    cmds[name]={'reqd':re.findall(r'"([^"]*)"',reqd.group(1)),'optn':re.findall(r'"([^"]*)"',ostr),
      'optnExpr': ostr if re.search(r'[a-z]selectors\b',ostr) else None,
      'help':htxt,'helpSelectors':sel,'flags':[x.strip() for x in flags.group(1).split(';') if x.strip()]}
json.dump(cmds, open('/tmp/xe/commands.json','w'), indent=0)
print(len(cmds))
# Emit TypeScript data modules (facts only).
import os
D='/work/main/src/manager/cli/data'
os.makedirs(D, exist_ok=True)
hdr='// Facts extracted from xapi (xapi-project/xen-api@e2ee48d6) by tools/xe-extract-facts.py. Do not edit.\n'
for c in cmds.values():
    c['flags']=[('Deprecated' if f.startswith('Deprecated') else f) for f in c['flags']]
    del c['optnExpr']; del c['helpSelectors']
open(D+'/xapi-commands.ts','w').write(hdr+"import type { CommandFact } from '../types.js';\n\nexport const XAPI_COMMANDS: Record<string, CommandFact> = JSON.parse(" + json.dumps(json.dumps(cmds)) + ");\n")
open(D+'/xapi-errors.ts','w').write(hdr+"import type { ErrorFact } from '../types.js';\n\nexport const XAPI_ERRORS: Record<string, ErrorFact> = JSON.parse(" + json.dumps(json.dumps(errs)) + ");\n")
open(D+'/xapi-records.ts','w').write(hdr+"import type { FieldFact } from '../types.js';\n\nexport const XAPI_RECORDS: Record<string, FieldFact[]> = JSON.parse(" + json.dumps(json.dumps(out)) + ");\n")
