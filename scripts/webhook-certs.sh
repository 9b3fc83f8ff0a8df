#!/bin/sh
# TLS for the podpower admission webhook without cert-manager: a CA and a serving certificate for
# podpower-webhook.podpower.svc (the Service in k8s/60-webhook.yaml), made with openssl.
#
#   scripts/webhook-certs.sh [OUT_DIR]        (default: ./webhook-certs; DAYS=365 to change the validity)
#
# Writes OUT_DIR/{ca.crt,ca.key,tls.crt,tls.key} and prints the caBundle (base64 of ca.crt) on stdout,
# then, on stderr, the kubectl commands that create the Secret and put the caBundle into both webhook
# configurations. Keep ca.key private (or delete it: it is only needed to sign a new serving cert).
# SERVICE / NAMESPACE override the Service name and namespace.
set -eu

out="${1:-webhook-certs}"
service="${SERVICE:-podpower-webhook}"
namespace="${NAMESPACE:-podpower}"
days="${DAYS:-365}"
host="$service.$namespace.svc"

command -v openssl >/dev/null 2>&1 || { echo "webhook-certs.sh: openssl not found" >&2; exit 1; }
mkdir -p "$out"
umask 077
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# the CA: self-signed, may only sign certificates
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$out/ca.key" \
    -out "$out/ca.crt" -days "$days" -subj "/CN=podpower-webhook-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# the serving certificate: the Service's DNS names, server auth only (the API server checks the SAN)
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$out/tls.key" \
    -out "$tmp/tls.csr" -subj "/CN=$host" 2>/dev/null
cat > "$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$host,DNS:$host.cluster.local,DNS:$service.$namespace,DNS:$service
EXT
openssl x509 -req -in "$tmp/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -out "$out/tls.crt" -days "$days" -extfile "$tmp/ext.cnf" 2>/dev/null
rm -f "$out/ca.srl"
openssl verify -CAfile "$out/ca.crt" "$out/tls.crt" >/dev/null
chmod 644 "$out/ca.crt" "$out/tls.crt"

ca_bundle="$(base64 < "$out/ca.crt" | tr -d '\n')"
echo "$ca_bundle"
cat >&2 <<HELP
Wrote $out/ca.crt, $out/tls.crt, $out/tls.key (serving $host). Next:
  kubectl -n $namespace create secret tls $service-tls --cert=$out/tls.crt --key=$out/tls.key
  kubectl apply -f k8s/60-webhook.yaml
  for kind in mutatingwebhookconfiguration validatingwebhookconfiguration; do
    kubectl patch \$kind $service --type=json \\
      -p='[{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"$ca_bundle"}]'
  done
HELP
