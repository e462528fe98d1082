#!/usr/bin/env bash
# Rebuilds lists/sample/, the small list set that `hedgerow demo` uses when no --lists folder is
# given, from the full shared data set. Deterministic: the first entries of each chosen list,
# plus a few well-known names that make the demo easy to try, where the source lists them.
set -euo pipefail
src=${1:-"$(dirname "$0")/../../shared/data/blocklists"}
out="$(dirname "$0")/../lists/sample"
per_list=${PER_LIST:-250}
mkdir -p "$out"
rm -f "$out"/*.domains "$out"/*.urls
well_known='^(facebook\.com|instagram\.com|tiktok\.com|roblox\.com|pokerstars\.com|bet365\.com|discord\.com|snapchat\.com|nordvpn\.com|dns\.google|youtube\.com|twitch\.tv|pornhub\.com|twitter\.com|x\.com|whatsapp\.com|fortnite\.com|epicgames\.com|amazon\.co\.uk|ebay\.co\.uk|tinder\.com|cloudflare-dns\.com|mozilla\.cloudflare-dns\.com|hidemyass\.com|vinted\.fr)$'
lists="adult mixed_adult lingerie dating gambling arjel games social_networks blp_tiktok blp_facebook
  blp_twitter blp_whatsapp blp_youtube chat webmail agressif dangerous_material drogue blp_drugs hacking
  malware phishing blp_scam warez blp_piracy blp_torrent sect redirector vpn doh residential-proxies
  remote-control audio-video shopping press bank fakenews cryptojacking stalkerware ai tricheur child
  sexual_education publicite"
for list in $lists; do
  for kind in domains urls; do
    file="$src/$list.$kind"
    [ -f "$file" ] || continue
    { head -n "$per_list" "$file"; grep -E "$well_known" "$file" || true; } | sort -u > "$out/$list.$kind"
  done
done
echo "wrote $(cat "$out"/*.domains "$out"/*.urls | wc -l) entries in $(ls "$out" | grep -c -E '\.(domains|urls)$') files to $out"
