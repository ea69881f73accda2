// An Eclipse Tahu Sparkplug B edge node (the npm sparkplug-client), driven
// line by line from stdin by edge/sparkplug_tahu_test.go:
//
//   connect <bdSeq>  connect as edge node gw1 of group plant; on connect
//                    publish NBIRTH and the DBIRTH of device pump-7
//   ndata <v>        NDATA, alias only
//   ddata <v>        DDATA of pump-7, alias only
//   skip             skip one seq (the next message makes a gap)
//   ddeath           DDEATH of pump-7
//   stop             publish NDEATH and disconnect
//   exit             end the process
//
// It prints one line per event: "born <bdSeq>" after the births of a
// connect, "rebirth" after births sent for an NCMD Node Control/Rebirth,
// "ok <command>" after every other command, "error <text>" on failure.
"use strict";
const sparkplug = require("sparkplug-client");
const readline = require("readline");

const broker = process.argv[2];
let client = null;
let n = 0;

function births() {
  client.publishNodeBirth({
    timestamp: Date.now(),
    metrics: [
      { name: "Node Control/Rebirth", type: "Boolean", value: false },
      { name: "uptime_s", alias: 1, type: "Int32", value: 1 },
      { name: "firmware", alias: 2, type: "String", value: "tahu-js" },
    ],
  });
  client.publishDeviceBirth("pump-7", {
    timestamp: Date.now(),
    metrics: [
      { name: "temp", alias: 10, type: "Double", value: 61.5 },
      { name: "running", alias: 11, type: "Boolean", value: true },
      { name: "delta", alias: 12, type: "Int32", value: -5 },
      { name: "speed", alias: 13, type: "Float", value: 1480 },
    ],
  });
}

function connect(bdSeq) {
  n++;
  client = sparkplug.newClient({
    serverUrl: broker, username: "", password: "", clientId: "tahu-gw1-" + n,
    groupId: "plant", edgeNode: "gw1", publishDeath: true, keepalive: 30,
  });
  client.bdSeq = bdSeq;
  client.on("birth", () => { births(); console.log("born " + bdSeq); });
  client.on("ncmd", (payload) => {
    for (const m of payload.metrics || []) {
      if (m.name === "Node Control/Rebirth" && m.value === true) {
        births();
        console.log("rebirth");
      }
    }
  });
  client.on("error", (err) => console.log("error " + err.message));
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  const v = Number(arg);
  switch (cmd) {
    case "connect":
      connect(v);
      return;
    case "ndata":
      client.publishNodeData({ timestamp: Date.now(), metrics: [{ alias: 1, type: "Int32", value: v }] });
      break;
    case "ddata":
      client.publishDeviceData("pump-7", {
        timestamp: Date.now(),
        metrics: [
          { alias: 10, type: "Double", value: v },
          { alias: 11, type: "Boolean", value: v > 0 },
          { alias: 12, type: "Int32", value: -v },
        ],
      });
      break;
    case "skip":
      client.incrementSeqNum();
      break;
    case "ddeath":
      client.publishDeviceDeath("pump-7", { timestamp: Date.now(), metrics: [] });
      break;
    case "stop":
      client.stop();
      break;
    case "exit":
      process.exit(0);
    default:
      console.log("error unknown command " + cmd);
      return;
  }
  console.log("ok " + cmd);
});
