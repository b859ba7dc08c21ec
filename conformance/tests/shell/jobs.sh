# bash: pipelines, subshells, command substitution, traps, background jobs, signalled children.
set -u
echo "pipeline: $(printf 'b\na\nc\n' | sort | tr a-z A-Z | head -2 | paste -sd,)"
echo "substitution: $(echo outer $(echo inner))"
(exit 3); echo "subshell status: $?"
( cd /; echo "subshell cwd: $PWD" ); echo "parent cwd unchanged: $([ "$PWD" != / ] && echo yes || echo no)"
x=1; (x=2); echo "subshell variable stays: $x"

trap 'echo "trap: USR1"' USR1
kill -USR1 $$
trap 'echo "trap: TERM in child"; exit 9' TERM
bash -c 'trap "echo child got TERM; exit 5" TERM; kill -TERM $$; sleep 5'; echo "child trapped TERM, status $?"
trap - TERM

sleep 0.2 & first=$!
(sleep 0.1; exit 4) & second=$!
wait $second; echo "background job status: $?"
wait $first; echo "first background job: $?"
sleep 0.05 & sleep 0.05 & wait; echo "wait for all: $?"

sh -c 'kill -9 $$'; echo "SIGKILLed child: $?"
sh -c 'kill -TERM $$'; echo "SIGTERMed child: $?"
bash -c 'exit 300'; echo "exit 300 wraps: $?"
echo "pipefail off: $(false | true; echo $?)"
set -o pipefail; false | true; echo "pipefail on: $?"; set +o pipefail
echo "PIPESTATUS: $(true | false | true; echo "${PIPESTATUS[@]}")"
yes | head -3 | wc -l | sed 's/^/yes|head (SIGPIPE to yes): /'
