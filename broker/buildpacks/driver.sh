# The build driver: runs inside a build's sandbox as `/bin/sh -c`, with the app at /app
# (BUILD_DIR), the app's build cache at /cache (CACHE_DIR), its config vars as files in /env
# (ENV_DIR), the buildpacks at /buildpacks/1..N and /output for what the broker reads back.
# BUILDPACK_DETECT=first runs the first buildpack whose bin/detect passes (the built-in
# detection); `all` runs every one in order, each of which must pass bin/detect.
# Exits 3 after printing its own "Build failed" line; any other failure is the broker's to name.
set -u
now() { date +%s%3N; }
took() { awk -v ms="$(($(now) - $1))" 'BEGIN { printf "%.1f s", ms / 1000 }'; }
fail() { echo "-----> Build failed: $*"; exit 3; }
name_of() { eval "printf '%s' \"\${BUILDPACK_NAME_$1}\""; }

chosen=""
i=1
while [ "$i" -le "$BUILDPACK_COUNT" ]; do
  dir=/buildpacks/$i
  if what=$("$dir/bin/detect" /app); then
    chosen="$chosen $i"
    printf '%s\n' "$what" | head -n 1 > "/output/detected-$i"
    [ "$BUILDPACK_DETECT" = first ] && break
  elif [ "$BUILDPACK_DETECT" = all ]; then
    fail "the app is not compatible with buildpack $(name_of "$i") (its bin/detect failed)"
  fi
  i=$((i + 1))
done
[ -n "$chosen" ] || fail "no buildpack detected the app: it has no requirements.txt, pyproject.toml, package.json or Procfile"

for i in $chosen; do
  dir=/buildpacks/$i
  name=$(name_of "$i")
  what=$(cat "/output/detected-$i")
  echo "-----> ${what:-App} app detected ($name)"
  start=$(now)
  { "$dir/bin/compile" /app /cache /env 2>&1; echo $? > /tmp/compile.rc; } | tee /tmp/compile.log
  rc=$(cat /tmp/compile.rc)
  if [ "$rc" != 0 ]; then
    reason=$(grep '^ *!' /tmp/compile.log | tail -n 1 | sed 's/^ *! *//')
    fail "$name: ${reason:-bin/compile exited with code $rc}"
  fi
  echo "-----> $name compiled in $(took "$start")"
  if [ -x "$dir/bin/release" ]; then
    "$dir/bin/release" /app > "/output/release-$i.yml" || fail "$name: bin/release exited with code $?"
  fi
done
echo "$chosen" > /output/ran
