#!/bin/sh
# /usr/bin/kvs-edge: the kvs-edge command line on the Node runtime it ships with.
exec /opt/kvs-edge/node/bin/node /opt/kvs-edge/bin/kvs-edge.js "$@"
