# Sourced by the bench scripts (after `cd` to the repository root). Set `base` to the
# server's URL first.

# POST a JSON body with a bearer token: api TOKEN PATH BODY.
api() { curl -fsS -H "authorization: Bearer $1" -H 'content-type: application/json' "$base$2" -d "$3"; }

# Creates the institution `city` and prints a publisher token of it (needs the admin token
# bench-admin).
city_publisher() {
  api bench-admin /v1/institutions '{"slug":"city","name":"Bench City"}' >/dev/null
  api bench-admin /v1/institutions/city/tokens '{"role":"publisher"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

# city_publisher, then the public dataset city/air; prints the token.
city_air() {
  local token
  token=$(city_publisher)
  api "$token" /v1/datasets '{"slug":"air","title":"Bench","description":"Benchmark data","license":"CC0-1.0","access":"public"}' >/dev/null
  echo "$token"
}
