#!/usr/bin/env bash
# Stage a running study's finished runs for a commit part-way (a long study spans several sessions, and only what
# git holds survives a session): the live manifest frozen at this moment, the records it lists and their executed
# notebooks, and the interim tables, figures and README rebuilt from that frozen manifest in a scratch copy, so a
# run that finishes while this script works is neither half-staged nor cited. Stages; does not commit.
#
#     scripts/snapshot_study.sh verdicts && git commit -m "verdicts study part-way: ..."
#
# The running study is left alone: it keeps writing the live manifest in results/ (not staged after this: the
# index holds the frozen copy), and its final report replaces every interim table.
set -euo pipefail
profile=${1:?usage: scripts/snapshot_study.sh PROFILE}
cd "$(dirname "$0")/.."
py=.venv/bin/python
manifest=results/manifest-$profile.json
[ -f "$manifest" ] || { echo "no $manifest: no study '$profile' has run here" >&2; exit 2; }
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
frozen=$snap/manifest.frozen
cp "$manifest" "$frozen"                          # frozen first: every record it lists is finished and written
status=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['status'])" "$frozen")
case $status in complete|"report pending")
  echo "the study '$profile' is $status: its own report writes the final tables; commit those instead" >&2; exit 2;;
esac
# what the report reads (not runs/, whose temporary files come and go while the study runs)
mkdir -p "$snap/results/records"
cp results/manifest-*.json "$snap/results/"
cp "$frozen" "$snap/$manifest"
find results/records -maxdepth 1 -name '*.json' ! -name '.*' -exec cp -t "$snap/results/records/" {} +
for d in speed tables figures benchmarks; do [ -d "results/$d" ] && cp -r "results/$d" "$snap/results/"; done
rm -rf "$snap/results/tables/$profile" "$snap/results/figures/$profile"
listed=$("$py" -c "import json,sys; print('\n'.join(json.load(open(sys.argv[1]))['records']))" "$snap/$manifest")
mapfile -t records <<< "$listed"
"$py" -m pkdstudy.cli report --profile "$profile" --results "$snap/results" > "$snap/report.log"; head -2 "$snap/report.log"
for d in tables figures; do  # copied beside, then swapped: a failed copy leaves the earlier tables in place
  [ -d "$snap/results/$d/$profile" ] || continue  # a study of arms alone draws no figure
  rm -rf "results/$d/$profile.snapshot"
  cp -r "$snap/results/$d/$profile" "results/$d/$profile.snapshot"
  rm -rf "results/$d/$profile"
  mv "results/$d/$profile.snapshot" "results/$d/$profile"
done
"$py" scripts/update_readme.py --root "$snap"   # README: every committed study, this one's interim tables
# stage: the frozen manifest (not the live file), the records it lists and their notebooks, tables, figures, README
git update-index --add --cacheinfo 100644,"$(git hash-object -w "$frozen")","$manifest"
for r in "${records[@]}"; do
  id=$(basename "$r" .json)
  git add "results/records/$id.json"
  [ -f "results/runs/$id.ipynb" ] && git add "results/runs/$id.ipynb"
done
git add -A "results/tables/$profile" README.md
[ -d "results/figures/$profile" ] && git add -A "results/figures/$profile"
echo "staged: $manifest (frozen, ${#records[@]} records) and its tables, figures and README"
