#!/usr/bin/env node
// An independent suanchou client: Node.js + @grpc/grpc-js, built at runtime from the .proto
// files alone (no generated code, nothing from the Python package). It proves the API contract
// can be implemented from the protos: it registers a department and a cluster as the admin,
// plays that cluster's agent over AgentService.Sync (actually running the leased command),
// submits jobs as the department and follows them with JobService.WatchEvents.
//
// Usage: node client.mjs --address HOST:PORT --admin-token TOKEN [--timeout SECONDS]
//        [--proto-root DIR]
// Output: one JSON object per line on stdout, one per milestone; the last one is
// {"step":"done",...} on success (exit 0) or {"step":"failed","error":...} (exit 1).

import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROTO_FILES = [
  "protos/suanchou/v1/admin.proto",
  "protos/suanchou/v1/agent.proto",
  "protos/suanchou/v1/jobs.proto",
];
const RPC_DEADLINE_MS = 5000;
const SYNC_EVERY_MS = 200;

const DEPARTMENT = "大数据局"; // non-ASCII on purpose: names travel as UTF-8 strings
const CLUSTER = "node-interop";
const NODE = { name: "n1", capacity: { quantities: { cpu: 4000, memory: 8192 } } };
const NODE_LABELS = { arch: "x86_64", zone: "hz-a" };
const GREETING = "你好";

// Children of every agent, so a timeout (which exits without unwinding main) kills them too.
const CHILDREN = new Set();

function emit(step, fields = {}) {
  process.stdout.write(`${JSON.stringify({ step, ...fields })}\n`);
}

class Failure extends Error {}

function check(condition, message) {
  if (!condition) throw new Failure(message);
}

function bearer(token) {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
}

function deadline() {
  return new Date(Date.now() + RPC_DEADLINE_MS);
}

// Promise wrapper for a unary call; the error names the RPC and carries the gRPC status name.
function unary(client, method, request, token) {
  return new Promise((resolve, reject) => {
    client[method](request, bearer(token), { deadline: deadline() }, (err, reply) => {
      if (err) {
        const code = grpc.status[err.code] ?? err.code;
        reject(new Failure(`${method} failed: ${code}: ${err.details || err.message}`));
      } else {
        resolve(reply);
      }
    });
  });
}

function loadApi(protoRoot) {
  const definition = protoLoader.loadSync(PROTO_FILES, {
    includeDirs: [protoRoot],
    // Field names exactly as written in the .proto (snake_case), so this file reads like the
    // contract; enums as their names; int64 as strings so no precision is silently lost.
    keepCase: true,
    enums: String,
    longs: String,
    // Fill proto3 defaults (0, "", false, first enum value) so absent and zero read the same,
    // and expose the synthetic oneof of `optional` fields (`_exit_code`) to test presence.
    defaults: true,
    oneofs: true,
  });
  const v1 = grpc.loadPackageDefinition(definition).suanchou.v1;
  for (const name of ["ClusterService", "DepartmentService", "JobService", "AgentService"]) {
    check(typeof v1[name] === "function", `service suanchou.v1.${name} not found in the protos`);
  }
  return v1;
}

// proto3 `optional` fields: present only if the synthetic oneof names them.
function optionalInt(message, field) {
  return message[`_${field}`] === field ? message[field] : null;
}

// A minimal agent: holds runs the scheduler leased, executes their argv without a shell, and
// reports its full state on every Sync as agent.proto's protocol requires.
class Agent {
  constructor(client, token) {
    this.client = client;
    this.token = token;
    this.runs = new Map(); // run_id -> { lease, state, exitCode, message, reportedRunning, child }
    this.acknowledged = new Set();
  }

  report() {
    const runs = [];
    for (const [runId, run] of this.runs) {
      // Report RUNNING at least once before the outcome, so the lifecycle the scheduler sees is
      // the real one even when the command ends before the next sync.
      let state = run.state;
      if (run.exit !== undefined && run.reportedRunning) {
        state = run.exit.code === 0 ? "RUN_STATE_SUCCEEDED" : "RUN_STATE_FAILED";
      }
      const item = { run_id: runId, state, message: "" };
      if (state === "RUN_STATE_SUCCEEDED" || state === "RUN_STATE_FAILED") {
        item.exit_code = run.exit.code;
        item.message = run.exit.message;
      }
      runs.push(item);
    }
    return runs;
  }

  async sync() {
    const runs = this.report();
    const reply = await unary(
      this.client,
      "Sync",
      {
        agent_id: `node-interop/${process.pid}`,
        nodes: [{ ...NODE, labels: NODE_LABELS }],
        runs,
      },
      this.token,
    );
    for (const sent of runs) {
      const run = this.runs.get(sent.run_id);
      if (run && sent.state === "RUN_STATE_RUNNING" && !run.reportedRunning) {
        run.reportedRunning = true;
        emit("run_reported", { run_id: sent.run_id, state: sent.state });
      } else if (run && sent.exit_code !== undefined && !run.reportedExit) {
        run.reportedExit = true;
        emit("run_reported", { run_id: sent.run_id, state: sent.state, exit_code: sent.exit_code });
      }
    }
    for (const lease of reply.start) this.start(lease);
    for (const runId of reply.cancel) this.cancel(runId);
    for (const runId of reply.acknowledged) {
      if (this.runs.delete(runId)) {
        this.acknowledged.add(runId);
        emit("run_acknowledged", { run_id: runId });
      }
    }
    return reply;
  }

  start(lease) {
    // agent.proto: "the agent ignores a run id it already holds".
    if (this.runs.has(lease.run_id) || this.acknowledged.has(lease.run_id)) return;
    emit("lease", {
      run_id: lease.run_id,
      job_id: lease.job_id,
      node: lease.node,
      attempt: lease.attempt,
      command: lease.command,
      cpu: lease.resources?.quantities?.cpu,
      max_runtime_seconds: lease.max_runtime_seconds,
    });
    check(lease.node === NODE.name, `lease ${lease.run_id} names unknown node ${lease.node}`);
    check(lease.command.length > 0, `lease ${lease.run_id} has an empty command`);
    const run = { lease, state: "RUN_STATE_RUNNING", reportedRunning: false };
    this.runs.set(lease.run_id, run);
    const env = {
      ...process.env,
      ...lease.env,
      SUANCHOU_JOB_ID: lease.job_id,
      SUANCHOU_REPLICA: String(lease.replica),
      SUANCHOU_REPLICAS: String(lease.replicas),
    };
    const [program, ...args] = lease.command;
    const child = spawn(program, args, { env, stdio: "ignore" });
    run.child = child;
    CHILDREN.add(child);
    const limit = Number(lease.max_runtime_seconds);
    // Enforce max_runtime_seconds like a real agent; unref() so the timer never keeps the
    // process alive after success.
    const timer =
      limit > 0
        ? setTimeout(() => {
            run.exit = { code: -1, message: `max runtime ${limit}s exceeded` };
            child.kill("SIGKILL");
          }, limit * 1000).unref()
        : null;
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      run.exit = { code: 127, message: `spawn failed: ${err.message}` };
    });
    child.on("exit", (code, signal) => {
      CHILDREN.delete(child);
      if (timer) clearTimeout(timer);
      if (run.exit !== undefined) return;
      run.exit = signal ? { code: -1, message: `killed by ${signal}` } : { code, message: "" };
    });
  }

  cancel(runId) {
    const run = this.runs.get(runId);
    if (run === undefined) return;
    run.child?.kill("SIGKILL");
    this.runs.delete(runId);
    emit("run_cancelled", { run_id: runId });
  }

  killAll() {
    for (const run of this.runs.values()) run.child?.kill("SIGKILL");
  }
}

// Follows the department's event stream from the first event, calling onEvent for each one.
// `ended` rejects on any stream error (or if the server ends a follow stream), and resolves
// when we cancel the call ourselves.
function watch(jobs, token, onEvent) {
  const call = jobs.WatchEvents({ after_event_id: "0", follow: true }, bearer(token));
  let lastId = 0n;
  const ended = new Promise((resolve, reject) => {
    call.on("data", (event) => {
      const id = BigInt(event.event_id);
      if (id <= lastId) {
        reject(new Failure(`event ids not increasing: ${id} after ${lastId}`));
        return;
      }
      lastId = id;
      emit("event", {
        event_id: event.event_id,
        job_id: event.job_id,
        job_set: event.job_set,
        state: event.state,
        reason: event.reason,
        cluster: event.cluster,
        node: event.node,
        attempt: event.attempt,
        exit_code: optionalInt(event, "exit_code"),
      });
      onEvent(event);
    });
    call.on("error", (err) => {
      // Our own cancel() at the end is not a failure.
      if (err.code === grpc.status.CANCELLED) resolve();
      else reject(new Failure(`WatchEvents failed: ${grpc.status[err.code]}: ${err.details}`));
    });
    call.on("end", () => reject(new Failure("WatchEvents ended although follow = true")));
  });
  return { call, ended };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(opts) {
  const v1 = loadApi(opts.protoRoot);
  const creds = grpc.credentials.createInsecure();
  const clusters = new v1.ClusterService(opts.address, creds);
  const departments = new v1.DepartmentService(opts.address, creds);
  const jobs = new v1.JobService(opts.address, creds);
  const agents = new v1.AgentService(opts.address, creds);
  const clients = [clusters, departments, jobs, agents];
  let agent = null;
  let stream = null;
  try {
    // -- admin: a department and a cluster ------------------------------------------------
    const dept = await unary(
      departments,
      "CreateDepartment",
      { name: DEPARTMENT, display_name: `${DEPARTMENT} (Node interop)` },
      opts.adminToken,
    );
    check(dept.department.name === DEPARTMENT, `department came back as ${dept.department.name}`);
    check(dept.token.length > 0, "CreateDepartment returned no token");
    emit("department", { name: dept.department.name, has_token: true });

    const reg = await unary(
      clusters,
      "RegisterCluster",
      {
        spec: {
          name: CLUSTER,
          region: "hz",
          zone: "hz-a",
          provider: "gov-cloud",
          security_level: 3, // 等保 level 3: below the level-4 job submitted later
          xinchuang: false,
          price: { cpu: 0.05, memory: 0.01 },
          labels: { owner: "node-interop" },
        },
      },
      opts.adminToken,
    );
    check(reg.agent_token.length > 0, "RegisterCluster returned no agent token");
    emit("registered", {
      cluster: reg.cluster.spec.name,
      region: reg.cluster.spec.region,
      security_level: reg.cluster.spec.security_level,
      price: reg.cluster.spec.price,
      state: reg.cluster.state,
    });

    // -- agent: first heartbeat with the node, so the cluster has capacity ------------------
    agent = new Agent(agents, reg.agent_token);
    const first = await agent.sync();
    check(first.cluster === CLUSTER, `the agent token belongs to ${first.cluster}`);
    emit("agent_synced", {
      cluster: first.cluster,
      sync_interval_seconds: first.sync_interval_seconds,
      lease_timeout_seconds: first.lease_timeout_seconds,
    });
    const info = await unary(clusters, "GetCluster", { name: CLUSTER }, opts.adminToken);
    emit("cluster", {
      node_count: info.node_count,
      capacity: info.capacity.quantities,
      nodes: info.nodes.map((n) => ({ name: n.name, labels: n.labels })),
    });
    check(info.node_count === 1, `cluster reports ${info.node_count} nodes after sync, not 1`);

    // -- department: watch from the first event, then submit --------------------------------
    const states = new Map(); // job_id -> [state, ...] as seen through WatchEvents
    let succeeded = false;
    let wantedJob = null;
    const seenEvent = (event) => {
      if (!states.has(event.job_id)) states.set(event.job_id, []);
      states.get(event.job_id).push(event.state);
      if (event.job_id === wantedJob && event.state === "JOB_STATE_SUCCEEDED") succeeded = true;
    };
    stream = watch(jobs, dept.token, seenEvent);
    // A stream failure must abort the run at once, not at the timeout.
    let streamError = null;
    stream.ended.catch((err) => {
      streamError = err;
    });

    const submitted = await unary(
      jobs,
      "SubmitJobs",
      {
        items: [
          {
            client_id: "interop-ok",
            name: "node interop job",
            job_set: "interop",
            resources: { quantities: { cpu: 500, memory: 256 } },
            // Exits 0 only if the env map and the agent's variables arrived intact.
            command: ["sh", "-c", `test "$GREETING" = "${GREETING}" && test -n "$SUANCHOU_JOB_ID"`],
            env: { GREETING },
            max_runtime_seconds: "60",
            labels: { origin: "node" },
          },
          {
            client_id: "interop-secure",
            name: "needs 等保 level 4",
            job_set: "interop",
            resources: { quantities: { cpu: 500, memory: 256 } },
            command: ["true"],
            constraints: { min_security_level: 4 },
          },
        ],
      },
      dept.token,
    );
    check(submitted.results.length === 2, `${submitted.results.length} submit results, not 2`);
    for (const r of submitted.results) {
      emit("submitted", {
        index: r.index,
        client_id: r.client_id,
        job_id: r.job_id,
        state: r.state,
        duplicate: r.duplicate,
        code: r.error ? r.error.code : null,
        field: r.error ? r.error.field : null,
        reason: r.reason,
        message: r.message,
      });
    }
    const [ok, secure] = submitted.results;
    check(!ok.error && ok.state === "JOB_STATE_QUEUED", `job 0 was not queued: ${JSON.stringify(ok)}`);
    check(
      secure.state === "JOB_STATE_REJECTED" && secure.error?.code === "FAILED_PRECONDITION",
      `the level-4 job was not REJECTED/FAILED_PRECONDITION: ${JSON.stringify(secure)}`,
    );
    wantedJob = ok.job_id;
    // Events for the job may have arrived before its id was known.
    succeeded = (states.get(wantedJob) ?? []).includes("JOB_STATE_SUCCEEDED");

    // -- agent loop until the job succeeded and the agent's run was acknowledged ------------
    while (!(succeeded && agent.runs.size === 0 && agent.acknowledged.size > 0)) {
      if (streamError) throw streamError;
      await sleep(SYNC_EVERY_MS);
      await agent.sync();
    }

    const job = await unary(jobs, "GetJob", { job_id: wantedJob }, dept.token);
    const runs = job.runs.map((r) => ({
      run_id: r.run_id,
      state: r.state,
      node: r.node,
      exit_code: optionalInt(r, "exit_code"),
    }));
    emit("job", { job_id: job.job_id, state: job.state, cluster: job.cluster, runs });
    check(job.state === "JOB_STATE_SUCCEEDED", `GetJob says ${job.state}`);
    check(runs.length === 1 && runs[0].exit_code === 0, `runs: ${JSON.stringify(runs)}`);

    emit("done", { job_id: wantedJob, states: states.get(wantedJob) });
  } finally {
    agent?.killAll();
    stream?.call.cancel();
    for (const c of clients) c.close();
  }
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      address: { type: "string" },
      "admin-token": { type: "string" },
      timeout: { type: "string", default: "30" },
      "proto-root": { type: "string", default: path.resolve(HERE, "..", "..") },
    },
  });
  if (!values.address || !values["admin-token"]) {
    throw new Failure("usage: client.mjs --address HOST:PORT --admin-token TOKEN [--timeout S]");
  }
  return {
    address: values.address,
    adminToken: values["admin-token"],
    timeoutS: Number(values.timeout),
    protoRoot: values["proto-root"],
  };
}

function fail(err) {
  const message = err instanceof Failure ? err.message : String(err?.stack ?? err);
  for (const child of CHILDREN) child.kill("SIGKILL");
  emit("failed", { error: message });
  process.stderr.write(`node interop client: ${message}\n`);
  process.exit(1);
}

try {
  const opts = parseOptions();
  const timer = setTimeout(
    () => fail(new Failure(`timed out after ${opts.timeoutS}s`)),
    opts.timeoutS * 1000,
  );
  main(opts).then(() => {
    clearTimeout(timer);
    process.exit(0);
  }, fail);
} catch (err) {
  fail(err);
}
