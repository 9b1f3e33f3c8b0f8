#!/usr/bin/env bash
# The five-minute tour with curl, against a running `make run` (run it from the repo root).
# Logs in as the demo owner, imports the sample workbook, builds a segment, launches a campaign
# through the simulator, and downloads its delivery report.
cd "$(dirname "$0")/.."
set -euo pipefail
P=${PREGON_URL:-http://127.0.0.1:8080}
PW=$(cat .pregon/demo-password)
curl -s -c ck -H 'Content-Type: application/json' -d "{\"email\":\"demo@pregon.local\",\"password\":\"$PW\"}" $P/api/v1/auth/login > login.json
CSRF=$(python3 -c 'import json;print(json.load(open("login.json"))["csrf_token"])')
TOKEN=$(curl -s -b ck -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' -d '{"name":"tour","role":"owner"}' $P/api/v1/tokens | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
A="Authorization: Bearer $TOKEN"
IMP=$(curl -s -H "$A" -F file=@.pregon/clientes-demo.xlsx $P/api/v1/imports | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d.get("import",d).get("id"))')
echo import $IMP
curl -s -H "$A" -H 'Content-Type: application/json' -d '{"mode":"update"}' $P/api/v1/imports/$IMP/confirm >/dev/null
for i in $(seq 1 60); do S=$(curl -s -H "$A" $P/api/v1/imports/$IMP | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d["status"],d["inserted"],d["rejected"])'); case "$S" in completed*) break;; esac; sleep 1; done; echo import $S
SEG=$(curl -s -H "$A" -H 'Content-Type: application/json' -d '{"name":"Clientes de cafe","definition":{"all":[{"field":"tags","op":"has_any","value":["cafe","frecuente"]}]}}' $P/api/v1/segments | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
echo segment $SEG
TPL=$(curl -s -H "$A" $P/api/v1/templates | python3 -c 'import json,sys;print([t["id"] for t in json.load(sys.stdin)["data"] if t["name"]=="novedades_cliente"][0])')
NUM=$(curl -s -H "$A" $P/api/v1/numbers | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"][0]["id"])')
CAMP=$(curl -s -H "$A" -H 'Content-Type: application/json' -d "{\"name\":\"Novedades de diciembre\",\"sender_number_id\":$NUM,\"template_id\":$TPL,\"segment_id\":$SEG,\"send_window\":{\"start\":\"00:00\",\"end\":\"23:59\",\"weekdays\":[0,1,2,3,4,5,6]},\"variable_mapping\":{\"format\":\"named\",\"variables\":[{\"component\":\"body\",\"name\":\"nombre\",\"source\":\"field\",\"key\":\"first_name\",\"fallback\":\"cliente\"},{\"component\":\"body\",\"name\":\"tienda\",\"source\":\"literal\",\"value\":\"Café Aurora\"}]}}" $P/api/v1/campaigns | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d.get("id",d))')
echo campaign $CAMP
curl -s -H "$A" $P/api/v1/campaigns/$CAMP/plan | head -c 400; echo
curl -s -H "$A" -H 'Content-Type: application/json' -d '{}' $P/api/v1/campaigns/$CAMP/schedule | head -c 200; echo
for i in $(seq 1 60); do S=$(curl -s -H "$A" $P/api/v1/campaigns/$CAMP/progress | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d["state"],d["counts"])'); case "$S" in completed*) break;; esac; sleep 1; done; echo $S
curl -s -H "$A" "$P/api/v1/campaigns/$CAMP/report" | head -c 300; echo
curl -s -H "$A" -o informe.xlsx "$P/api/v1/exports/campaigns/$CAMP?format=xlsx"; echo "delivery report: informe.xlsx"; rm -f ck login.json
