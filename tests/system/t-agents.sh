#!/usr/bin/env bash
# Measurement agents (mservice) of a combined box (DESIGN §7), in the whole
# system: ISP 3's box cb sees newyork best from where it stands; two client
# networks, each in a network namespace of its own (POP A: 198.18.6.32/28,
# POP B: 198.18.6.48/28), reach it over a bridge; agent ag1 near POP A sees
# paris best, agent ag2 near POP B sees tokyo best (scripts/world.sh,
# world_combined_agents). Each client, through the box's recursion, gets the
# site its own agent measured best; a client no agent measures for (on the
# box's own network) gets the box's own. Then: a state change
# is pushed at once, a quiet agent is asked for fresh metrics, an agent that
# vanishes ages out (its clients fall back to the box), comes back, and an
# agent the box does not allow is refused.
. "$(dirname "$0")/e2e.sh"
[ -x "$BUILDDIR/mservice/mservice" ] || { echo "mservice not built in $BUILDDIR"; exit 77; }
# ag2 pushes only on state changes and when asked: its interval is an hour
world_combined_agents 20 3600 || { not_ok "the combined box, its client networks or its agents did not start"; finish; }
check "POP A's client network is a namespace of its own" "$(${WX[popa]} ip -o addr show dev eth0)" "198.18.6.40/15"
check "  and resolves other names through the box" "$(world_pop_ask popa foobar.example SOA)" "status: NOERROR"

# cb_set popa|popb|box: the addresses that network's clients get for www, sorted.
cb_set() { world_pop_ask "$1" www.foobar.example A +short | grep -E '^[0-9.]+$' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
cb_set_is() { local i; for i in 1 2 3; do [ "$(cb_set "$1")" = "$2" ] || return 1; done; }
agent_line() { world_lbctl cb agents | grep "^agent $1:"; }
cb_stat() { world_lbctl cb stats | sed -n "s/^$1=//p"; }
stat_over() { [ "$(cb_stat "$1")" -gt "$2" ]; }
used() { agent_line "$1" | grep -q "session up.*answering its clients"; }

wait_until 30 used ag1 && wait_until 10 used ag2 && ok "both agents connected, registered and pushed metrics (${WAITED}s)" ||
    not_ok "agents: $(world_lbctl cb agents)"
check "ag1 measures the box's services, sent to it by the box" "$(world_agentctl ag1 "$AG1" sites)" \
    "www.foobar.example.*paris"
check "the box accepted ag1's client prefix" "$(world_lbctl cb agents)" "claim 198.18.6.32/28"
wait_until 20 cb_set_is popa "$SITE1" && ok "ag1's client gets paris ($SITE1), ag1's best (${WAITED}s)" ||
    not_ok "ag1's client gets: $(cb_set popa)"
wait_until 20 cb_set_is popb "$SITE2" && ok "ag2's client gets tokyo ($SITE2), ag2's best" ||
    not_ok "ag2's client gets: $(cb_set popb)"
cb_set_is box "$SITE3" && ok "a client no agent measures for gets newyork ($SITE3), the box's own best" ||
    not_ok "that client gets: $(cb_set box)"
# No claim holds a client next to an agent (127.0.7.1 ag1, .2 ag2): the agent
# whose address shares the longest prefix with it answers.
near_set() { dig +time=2 +tries=1 -b "$1" @"$CB" www.foobar.example A +short 2>/dev/null | grep -E '^[0-9.]+$' |
    sort -u | tr '\n' ' ' | sed 's/ $//'; }
[ "$(near_set 127.0.7.3)" = "$SITE2" ] && [ "$(near_set 127.0.7.0)" = "$SITE1" ] &&
    ok "unclaimed clients next to an agent: 127.0.7.3 gets ag2's tokyo, 127.0.7.0 ag1's paris" ||
    not_ok "near clients: 127.0.7.3 gets $(near_set 127.0.7.3), 127.0.7.0 gets $(near_set 127.0.7.0)"

# A state change reaches the box at once (ag2 would wait an hour otherwise).
world_site_status "$SITE2" 500
wait_until 15 cb_set_is popb "$SITE1" && ok "tokyo fails: ag2 pushes at once, its client gets paris (${WAITED}s)" ||
    not_ok "after tokyo failed ag2's client gets: $(cb_set popb)"
world_site_status "$SITE2" 200
wait_until 15 cb_set_is popb "$SITE2" && ok "tokyo back: ag2's client gets tokyo again (${WAITED}s)" ||
    not_ok "ag2's client gets: $(cb_set popb)"

# ag2 is quiet now: past half of max-age the box asks it, and it answers.
wait_until 25 stat_over agents.requests 0 &&
    ok "the box asked the quiet agent for fresh metrics (${WAITED}s)" || not_ok "no request: $(world_lbctl cb stats | grep ^agents)"
sleep 12 # past max-age since ag2's last pushed state change
used ag2 && cb_set_is popb "$SITE2" && ok "  ag2 answered: still used past max-age, its client still gets tokyo" ||
    not_ok "ag2 after max-age: $(agent_line ag2); its client gets $(cb_set popb)"

# ag1 vanishes without a word: its metrics age out, its clients get the box's answer.
world_stop ag1 KILL
wait_until 40 cb_set_is popa "$SITE3" && ok "ag1 killed: after max-age its client gets the box's own newyork (${WAITED}s)" ||
    not_ok "ag1 gone, its client gets: $(cb_set popa)"
check "  the box says so" "$(agent_line ag1)" "not used"
world_agent ag1 "$AG1" 198.18.6.32/28 300 || not_ok "agent ag1 did not restart"
wait_until 30 cb_set_is popa "$SITE1" && ok "ag1 back: its client gets paris again (${WAITED}s)" ||
    not_ok "ag1 restarted, its client gets: $(cb_set popa)"

# An agent the box does not allow (a valid certificate of the same CA).
refused0=$(cb_stat agents.refused)
WORLD_AGENT_SED="s|@ID@|rogue|" world_agent rogue 127.0.7.9 127.0.6.0/24 300 || not_ok "agent rogue did not start"
wait_until 15 stat_over agents.refused "$refused0" &&
    ok "an agent not in allow is refused" || not_ok "rogue was not refused: $(world_lbctl cb agents)"
check_not "  and is not among the agents" "$(world_lbctl cb agents)" "^agent rogue"
cb_set_is popa "$SITE1" && ok "  ag1's client still gets paris" || not_ok "ag1's client gets: $(cb_set popa)"

pid=${WPID[cb]}
world_stop ag1 TERM
world_stop ag2 TERM
world_stop rogue TERM
world_stop cb TERM
kill -0 "$pid" 2>/dev/null && not_ok "the box does not exit on SIGTERM" || ok "SIGTERM: the box exits"
for n in cb ag1 ag2; do
    check_not "$n: no sanitizer report" "$(cat "$TMP/$n.log")" "ERROR: (Address|Leak)Sanitizer|runtime error"
done
finish
