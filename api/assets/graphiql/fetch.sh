#!/usr/bin/env bash
# Refreshes the GraphiQL assets Hector embeds (at build time, with include_bytes!) from the npm
# registry, at the versions pinned below, and checks each package against its pinned integrity.
# Run it only to change a version; the files it writes are committed, so building Hector needs
# no network. Usage: api/assets/graphiql/fetch.sh
set -euo pipefail
cd "$(dirname "$0")"
# package@version  sha512 integrity from the registry  file inside the package  name here
ASSETS=(
  "graphiql@3.8.3 sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw== graphiql.min.js graphiql.min.js"
  "graphiql@3.8.3 sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw== graphiql.min.css graphiql.min.css"
  "graphiql@3.8.3 sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw== LICENSE LICENSE.graphiql"
  "react@18.3.1 sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ== umd/react.production.min.js react.production.min.js"
  "react@18.3.1 sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ== LICENSE LICENSE.react"
  "react-dom@18.3.1 sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw== umd/react-dom.production.min.js react-dom.production.min.js"
  "react-dom@18.3.1 sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw== LICENSE LICENSE.react-dom"
  "graphql-ws@5.16.0 sha512-Ju2RCU2dQMgSKtArPbEtsK5gNLnsQyTNIo/T7cZNp96niC1x0KdJNZV0TIoilceBPQwfb5itrGl8pkFeOUMl4A== umd/graphql-ws.min.js graphql-ws.min.js"
  "graphql-ws@5.16.0 sha512-Ju2RCU2dQMgSKtArPbEtsK5gNLnsQyTNIo/T7cZNp96niC1x0KdJNZV0TIoilceBPQwfb5itrGl8pkFeOUMl4A== LICENSE.md LICENSE.graphql-ws"
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for line in "${ASSETS[@]}"; do
  read -r pkg integrity file name <<<"$line"
  dir="$work/${pkg//[@\/]/_}"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$pkg" >/dev/null)
    tgz=$(ls "$dir"/*.tgz)
    if [ "$integrity" != "-" ]; then
      got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
      [ "$got" = "$integrity" ] || { echo "integrity of $pkg is $got, pinned $integrity" >&2; exit 1; }
    fi
    tar xzf "$tgz" -C "$dir"
  fi
  cp "$dir/package/$file" "./$name"
done
sha256sum ./*.js ./*.css > SHA256SUMS
echo "GraphiQL assets refreshed; review the diff and commit."
