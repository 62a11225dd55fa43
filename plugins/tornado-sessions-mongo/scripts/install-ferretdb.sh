#!/bin/sh
# Build the FerretDB server the tests of tornado-sessions-mongo run against.
#
#   plugins/tornado-sessions-mongo/scripts/install-ferretdb.sh [OUTPUT]
#
# OUTPUT defaults to "$(go env GOPATH)/bin/ferretdb", where the tests look for it.
#
# Why not plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`:
# FerretDB embeds build/version/version.txt, which only its own release tooling
# writes, so a `go install` binary panics at start-up ("Invalid
# build/version/version.txt file content").  This script builds the same module
# version from the Go module cache with that file written.  Needs Go >= 1.21;
# downloads the module through the usual Go proxy if it is not cached yet.
set -eu

VERSION="${FERRETDB_VERSION:-v1.24.2}"
OUTPUT="${1:-$(go env GOPATH)/bin/ferretdb}"

SRC="$(go mod download -json "github.com/FerretDB/FerretDB@${VERSION}" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$SRC" ] || [ ! -d "$SRC" ]; then
  echo "install-ferretdb: could not download github.com/FerretDB/FerretDB@${VERSION}" >&2
  exit 1
fi

WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cp -R "$SRC" "$WORK/src"
chmod -R u+w "$WORK/src"
echo "$VERSION" > "$WORK/src/build/version/version.txt"

mkdir -p "$(dirname "$OUTPUT")"
(cd "$WORK/src" && GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -o "$WORK/ferretdb" ./cmd/ferretdb)
"$WORK/ferretdb" --version >/dev/null
mv -f "$WORK/ferretdb" "$OUTPUT"
echo "install-ferretdb: FerretDB ${VERSION} -> $OUTPUT"
