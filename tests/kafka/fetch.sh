#!/usr/bin/env bash
# Fetches a real Apache Kafka (broker, tools, MirrorMaker 2 jars) from Maven
# into <repo>/.kafka/VERSION/libs for the test harness, the demo and benches.
#
# Idempotent: a complete fetch leaves .kafka/VERSION/.complete, written last,
# and later calls return at once. Safe to run from several test processes at
# the same time: one holds an flock per version, the others wait for it and
# then see the marker.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 KAFKA_VERSION   (e.g. 4.1.1 or 3.9.1)" >&2
    exit 2
fi
version="$1"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dest="$root/.kafka/$version"
marker="$dest/.complete"

[[ -f "$marker" ]] && exit 0

mkdir -p "$root/.kafka"
exec 9>"$root/.kafka/.fetch-$version.lock"
flock 9
# Another process may have finished while we waited for the lock.
[[ -f "$marker" ]] && exit 0

# Fetch into a scratch directory and move it into place, so an interrupted
# fetch never leaves a half-filled libs/ that looks usable.
scratch="$root/.kafka/.tmp-$version.$$"
rm -rf "$scratch" "$dest"
mkdir -p "$scratch/libs"
trap 'rm -rf "$scratch"' EXIT

mvn -q -B -Dstyle.color=never -f "$here/pom.xml" -Dkafka.version="$version" \
    dependency:copy-dependencies -DoutputDirectory="$scratch/libs" -DincludeScope=runtime

# Kafka 4.x logs through log4j2 but ships no SLF4J binding, so the broker would
# log nothing. Add the log4j2 binding that matches the slf4j-api it brings.
# (3.x brings reload4j and its binding itself.)
if ls "$scratch/libs"/log4j-core-*.jar >/dev/null 2>&1 \
    && ! ls "$scratch/libs"/log4j-slf4j*-impl-*.jar >/dev/null 2>&1; then
    log4j_version="$(basename "$(ls "$scratch/libs"/log4j-core-*.jar | head -n1)" .jar)"
    log4j_version="${log4j_version#log4j-core-}"
    if ls "$scratch/libs"/slf4j-api-2.*.jar >/dev/null 2>&1; then
        binding="log4j-slf4j2-impl"
    else
        binding="log4j-slf4j-impl"
    fi
    mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy \
        -Dartifact="org.apache.logging.log4j:$binding:$log4j_version" \
        -DoutputDirectory="$scratch/libs"
fi

mv "$scratch" "$dest"
trap - EXIT
date -u +%Y-%m-%dT%H:%M:%SZ >"$marker"
