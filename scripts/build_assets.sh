#!/usr/bin/env bash
# Copies the browser libraries the templates use from node_modules/ into static/vendor/.
#
# static/vendor/ is git-ignored and rebuilt from package-lock.json, so the versions of
# the front-end libraries are pinned in one place. Run `npm ci` first (scripts/dev.sh
# does both). The Dockerfile runs this script in its node build stage.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/node_modules"
DEST="$ROOT/static/vendor"

if [[ ! -d "$SRC" ]]; then
    echo "build_assets: $SRC is missing; run 'npm ci' first" >&2
    exit 1
fi

# Fill a scratch folder and swap it in at the end, so that an interrupted copy never
# leaves a half-filled static/vendor/ behind. Its name starts with a dot so that
# collectstatic ignores it should it ever be left over.
mkdir -p "$ROOT/static"
TMP="$ROOT/static/.vendor.tmp.$$"
trap 'rm -rf "$TMP"' EXIT
rm -rf "$TMP"
mkdir -p "$TMP/fonts"

copy() {  # copy PATH-IN-node_modules [TARGET-IN-static/vendor]
    cp "$SRC/$1" "$TMP/${2:-$(basename "$1")}"
}

copy bootstrap/dist/css/bootstrap.min.css
copy bootstrap/dist/css/bootstrap.min.css.map
copy bootstrap/dist/js/bootstrap.bundle.min.js
copy bootstrap/dist/js/bootstrap.bundle.min.js.map
# bootstrap-icons.min.css loads its font from url("fonts/bootstrap-icons.woff2"),
# so the fonts/ folder must sit beside it.
copy bootstrap-icons/font/bootstrap-icons.min.css
cp "$SRC"/bootstrap-icons/font/fonts/bootstrap-icons.woff* "$TMP/fonts/"
copy htmx.org/dist/htmx.min.js
copy echarts/dist/echarts.min.js
copy sortablejs/Sortable.min.js

# Django's ManifestStaticFilesStorage (and whitenoise's) rewrites sourceMappingURL
# comments and makes collectstatic fail when the map they name is missing: check here,
# where the cause is obvious, rather than later in collectstatic.
for file in "$TMP"/*.css "$TMP"/*.js; do
    map="$(grep -o 'sourceMappingURL=[^ *]*' "$file" | tail -1 | cut -d= -f2 || true)"
    if [[ -n "$map" && ! -f "$TMP/$map" ]]; then
        echo "build_assets: $(basename "$file") names source map $map, which was not copied" >&2
        exit 1
    fi
done

rm -rf "$DEST"
mv "$TMP" "$DEST"
trap - EXIT
echo "build_assets: static/vendor/ filled from node_modules/"
