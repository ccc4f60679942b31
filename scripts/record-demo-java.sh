#!/usr/bin/env bash
# Regenerates the Java half of the demo recording, from the REAL JaCoCo agent (Debian's
# libjacoco-java, /usr/share/java/org.jacoco.agent.jar) and the local JDK; no network.
#
#  1. compiles assets/demo/feature/inventory with `javac --release 11 -g` into
#     assets/demo/recording/java/classes (the build the recording belongs to: the class ids in
#     the dumps are CRC64s of exactly these bytes);
#  2. runs the inventory service under the agent (output=tcpserver, loopback, sessionid=inventory-1);
#  3. runs scripts/record-demo/JavaSession.java: a scripted ~60 s tester session (HTTP requests
#     with pauses) while dumping the agent every 2 s; each capture is the raw agent reply minus
#     the final CMDOK, stored as hex in assets/demo/recording/java-session.json.
#
# Usage: scripts/record-demo-java.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
rec=$root/assets/demo/recording
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

rm -rf "$rec/java/classes"
mkdir -p "$rec/java/classes"
javac --release 11 -g -d "$rec/java/classes" \
  "$root"/assets/demo/feature/inventory/src/main/java/bookstore/inventory/*.java

(cd "$work" && unzip -q -o /usr/share/java/org.jacoco.agent.jar jacocoagent.jar)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
service_port=$(free_port)
agent_port=$(free_port)

java "-javaagent:$work/jacocoagent.jar=output=tcpserver,address=127.0.0.1,port=$agent_port,sessionid=inventory-1,includes=bookstore.*" \
  -cp "$rec/java/classes" bookstore.inventory.InventoryServer "$service_port" 2>"$work/service.log" &
pid=$!
for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$service_port/health" >/dev/null 2>&1 ||
     (exec 3<>"/dev/tcp/127.0.0.1/$service_port") 2>/dev/null; then break; fi
  sleep 0.1
done

java "$root/scripts/record-demo/JavaSession.java" "$service_port" "$agent_port" "$rec/java-session.json"
du -ab "$rec/java" "$rec/java-session.json"
