// kafkajs against a running sluice broker: admin, idempotent producer, group consumers.
//
//   node tests/js/group.js --bootstrap 127.0.0.1:9092 --topic js-group [--partitions 4]
//                          [--count 400] [--more 40] [--timeout 90]
//
// 1. The admin client creates the topic and sees its partitions.
// 2. An idempotent producer sends --count keyed records with headers.
// 3. Two consumers of one group run side by side (eachMessage, manual commit of every record):
//    every record is read exactly once between them, intact; both disconnect.
// 4. The admin client finds the group's committed offsets at the end of every partition.
// 5. A fresh consumer of the group joins, receives none of the old records, and then exactly the
//    --more records produced after it joined.
//
// Everything is bounded by --timeout seconds. Exits 0 and prints "kafkajs group ok: ..." when
// every check passed; prints the reason to stderr and exits 1 otherwise.
'use strict'

const path = require('path')
const { Kafka, Partitioners, logLevel } = require(path.join(__dirname, 'node_modules', 'kafkajs'))
const levelName = Object.fromEntries(Object.entries(logLevel).map(([k, v]) => [v, k]))

function parseArgs(argv) {
  const args = { partitions: 4, count: 400, more: 40, timeout: 90 }
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '')
    const value = argv[i + 1]
    if (value === undefined) throw new Error(`missing value for ${argv[i]}`)
    args[key] = ['bootstrap', 'topic'].includes(key) ? value : Number(value)
  }
  if (!args.bootstrap || !args.topic) throw new Error('--bootstrap and --topic are required')
  return args
}

// kafkajs logs through console (stdout); keep stdout for the result and send warnings to stderr.
const toStderr = () => ({ namespace, level, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`[kafkajs ${levelName[level] || level}] ${namespace}: ${message} ${JSON.stringify(extra)}\n`)
}

function fail(message) {
  throw new Error(message)
}

async function until(what, deadline, check) {
  while (!check()) {
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function record(i) {
  return {
    key: `key-${i}`,
    value: `value-${i}`,
    headers: { seq: String(i), lang: 'js' },
  }
}

async function produce(producer, topic, ids) {
  const acked = {}
  const batch = 50
  for (let start = 0; start < ids.length; start += batch) {
    const messages = ids.slice(start, start + batch).map(record)
    const result = await producer.send({ topic, acks: -1, messages })
    for (const r of result) {
      if (r.errorCode !== 0) fail(`produce: error ${r.errorCode} on partition ${r.partition}`)
    }
  }
  for (const i of ids) acked[`value-${i}`] = true
  return acked
}

// A group member that records every message and commits it before taking the next.
function member(kafka, groupId, topic, name, seen) {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 30000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
    retry: { retries: 5 },
  })
  const state = { name, consumer, assigned: [], joins: 0 }
  consumer.on(consumer.events.GROUP_JOIN, e => {
    state.joins += 1
    state.assigned = (e.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b)
  })
  state.start = async () => {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic: t, partition, message }) => {
        const headers = {}
        for (const [k, v] of Object.entries(message.headers || {})) headers[k] = v.toString()
        seen.push({
          by: name,
          partition,
          offset: Number(message.offset),
          key: message.key && message.key.toString(),
          value: message.value && message.value.toString(),
          headers,
        })
        const next = (BigInt(message.offset) + 1n).toString()
        await consumer.commitOffsets([{ topic: t, partition, offset: next }])
      },
    })
  }
  return state
}

function checkIntact(m) {
  const i = Number(m.value.replace('value-', ''))
  const want = record(i)
  if (m.key !== want.key || m.headers.seq !== want.headers.seq || m.headers.lang !== 'js') {
    fail(`record at ${m.partition}/${m.offset} garbled: ${JSON.stringify(m)}`)
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const deadline = Date.now() + args.timeout * 1000
  const { topic } = args
  const groupId = `${topic}-group`
  const kafka = new Kafka({
    clientId: 'sluice-kafkajs',
    brokers: [args.bootstrap],
    logLevel: logLevel.WARN,
    logCreator: toStderr,
    retry: { retries: 5 },
  })

  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: args.partitions, replicationFactor: 1 }],
    waitForLeaders: true,
  })
  if (created !== true) fail(`createTopics answered ${created}`)
  const described = await admin.fetchTopicMetadata({ topics: [topic] })
  const partitions = described.topics[0].partitions.map(p => p.partitionId).sort((a, b) => a - b)
  if (partitions.join() !== [...Array(args.partitions).keys()].join()) {
    fail(`the topic has partitions ${partitions}`)
  }

  // An idempotent producer retries without limit (kafkajs warns otherwise); --timeout bounds it.
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 5000 },
  })
  await producer.connect()
  const ids = [...Array(args.count).keys()]
  const sent = await produce(producer, topic, ids)
  const ends = {}
  for (const o of await admin.fetchTopicOffsets(topic)) ends[o.partition] = Number(o.high)
  const total = Object.values(ends).reduce((a, b) => a + b, 0)
  if (total !== args.count) fail(`the partitions hold ${total} records, ${args.count} sent`)
  if (Object.values(ends).some(n => n === 0)) fail(`a partition got no records: ${JSON.stringify(ends)}`)

  // Two members; each commits every record before it takes the next one.
  const seen = []
  const a = member(kafka, groupId, topic, 'a', seen)
  const b = member(kafka, groupId, topic, 'b', seen)
  await Promise.all([a.start(), b.start()])
  await until(`${args.count} records`, deadline, () => seen.length >= args.count)
  await until('the pair to split the partitions', deadline, () => {
    const both = [...a.assigned, ...b.assigned].sort((x, y) => x - y)
    return a.assigned.length > 0 && b.assigned.length > 0 && both.join() === partitions.join()
  })
  const places = new Set(seen.map(m => `${m.partition}/${m.offset}`))
  if (places.size !== seen.length) fail(`${seen.length - places.size} records were delivered twice`)
  const values = new Set(seen.map(m => m.value))
  if (values.size !== seen.length || seen.length !== args.count) {
    fail(`read ${seen.length} records (${values.size} distinct), ${args.count} sent`)
  }
  for (const v of values) if (!sent[v]) fail(`read a record never sent: ${v}`)
  seen.forEach(checkIntact)
  const byA = seen.filter(m => m.by === 'a').length
  const byB = seen.length - byA
  if (byA === 0 || byB === 0) fail(`one consumer read everything: ${byA} / ${byB}`)
  const split = `${a.assigned} / ${b.assigned}`
  await Promise.all([a.consumer.disconnect(), b.consumer.disconnect()])

  // The committed offsets are the partition ends.
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
  const committed = {}
  for (const p of offsets[0].partitions) committed[p.partition] = Number(p.offset)
  if (JSON.stringify(committed) !== JSON.stringify(ends)) {
    fail(`committed offsets ${JSON.stringify(committed)}, partition ends ${JSON.stringify(ends)}`)
  }

  // A fresh member resumes at the committed offsets.
  const later = []
  const c = member(kafka, groupId, topic, 'c', later)
  await c.start()
  await until('the fresh consumer to join', deadline, () => c.joins > 0)
  if (c.assigned.join() !== partitions.join()) fail(`the fresh consumer got ${c.assigned}`)
  if (later.length) fail(`the fresh consumer read an old record: ${JSON.stringify(later[0])}`)
  const moreIds = [...Array(args.more).keys()].map(i => args.count + i)
  const more = await produce(producer, topic, moreIds)
  await until(`${args.more} new records`, deadline, () => later.length >= args.more)
  const old = later.filter(m => sent[m.value])
  if (old.length) fail(`the fresh consumer re-read ${old.length} committed records`)
  const fresh = new Set(later.map(m => m.value))
  if (later.length !== args.more || fresh.size !== args.more || [...fresh].some(v => !more[v])) {
    fail(`the fresh consumer read ${later.length} records, want the ${args.more} new ones`)
  }
  later.forEach(checkIntact)
  for (const m of later) {
    if (m.offset < ends[m.partition]) fail(`${m.value} below the committed offset`)
  }
  await c.consumer.disconnect()
  await producer.disconnect()

  const groups = (await admin.listGroups()).groups.map(g => g.groupId)
  if (!groups.includes(groupId)) fail(`listGroups: ${groups}`)
  await admin.disconnect()
  console.log(
    `kafkajs group ok: ${args.count} records read once by two consumers (${byA} + ${byB}, ` +
      `partitions ${split}); committed ${JSON.stringify(committed)}; a fresh consumer read only ` +
      `the ${args.more} new records`
  )
}

const watchdog = setTimeout(() => {
  process.stderr.write('group.js: overall time limit reached\n')
  process.exit(2)
}, (parseArgs(process.argv.slice(2)).timeout + 30) * 1000)
watchdog.unref()

main().then(
  () => process.exit(0),
  e => {
    process.stderr.write(`group.js failed: ${e.stack || e}\n`)
    process.exit(1)
  }
)
