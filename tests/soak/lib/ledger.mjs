// Delivery accounting. The server numbers each room's messages 1, 2, 3 … without gaps and
// sends a connection's frames in order, so a receiver's stay in a room is checked exactly:
//
//   start = `latest` of the history that answered its join (nothing at or below it is live),
//   end   = `latest` of a history snapshot it asks for before leaving (everything up to it was
//           broadcast while it was a member, so it must have arrived before the snapshot),
//
// and it must have received every id in (start, end] exactly once, in order. Messages after
// the snapshot and before `left` (or the close) extend `end` when they arrive in order.
// Independently, each text carries the sender's own per-room sequence number, which must go
// up by one from message to message of one sender as seen by one receiver.

/** Parses "soak <sender-tag> <seq> …" (the well-behaved clients' texts); null otherwise. */
export function parseSoakText(text) {
  const m = /^soak (\S+) (\d+) /.exec(text ?? '');
  return m ? { sender: m[1], seq: Number(m[2]) } : null;
}

export class DeliveryTotals {
  sessions = 0;        // finished stays (with a snapshot) that were checked
  expected = 0;        // Σ (end - start)
  delivered = 0;       // distinct expected ids that arrived
  missing = 0;         // expected ids that never arrived
  duplicates = 0;      // an id that had already arrived
  outOfOrder = 0;      // an id that arrived after a later one
  seqBreaks = 0;       // a sender's sequence did not go up by one
  corrupt = 0;         // same room and id, different text than another receiver saw
  stray = 0;           // a message for a room the receiver was not in
  lostSessions = 0;    // stays cut short by an unexpected close (reported, not checked)
}

export class RoomSession {
  constructor(room, start) {
    this.room = room;
    this.start = start;
    this.lastId = start;
    this.snapshot = null;
    this.received = 0;
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.seqBreaks = 0;
    this.gaps = [];              // [from, to] id ranges skipped so far
    this.senderSeq = new Map();  // sender tag → last sequence seen
  }

  receive(id, text) {
    if (id === this.lastId + 1) {
      this.lastId = id;
      this.received++;
    } else if (id > this.lastId) {
      this.gaps.push([this.lastId + 1, id - 1]);
      this.lastId = id;
      this.received++;
    } else if (this.#fillGap(id)) {
      this.outOfOrder++;
      this.received++;
    } else {
      this.duplicates++;
      return;
    }
    this.#checkSenderSeq(text);
  }

  #fillGap(id) {
    const i = this.gaps.findIndex(([from, to]) => id >= from && id <= to);
    if (i < 0) return false;
    const [from, to] = this.gaps[i];
    this.gaps.splice(i, 1, ...[[from, id - 1], [id + 1, to]].filter(([a, b]) => a <= b));
    return true;
  }

  #checkSenderSeq(text) {
    const parsed = parseSoakText(text);
    if (!parsed) return;
    const previous = this.senderSeq.get(parsed.sender);
    if (previous !== undefined && parsed.seq !== previous + 1) this.seqBreaks++;
    this.senderSeq.set(parsed.sender, parsed.seq);
  }

  /** Adds this finished stay to `totals`; a stay without a snapshot cannot be judged. */
  finish(totals) {
    if (this.snapshot === null) {
      totals.lostSessions++;
      return;
    }
    const end = Math.max(this.snapshot, this.lastId);
    const gapIds = this.gaps.reduce((n, [from, to]) => n + (to - from + 1), 0);
    const missing = gapIds + (end - this.lastId);
    totals.sessions++;
    totals.expected += end - this.start;
    totals.delivered += end - this.start - missing;
    totals.missing += missing;
    totals.duplicates += this.duplicates;
    totals.outOfOrder += this.outOfOrder;
    totals.seqBreaks += this.seqBreaks;
  }
}

/** What every receiver saw, by room and id: catches two receivers seeing different texts. */
export class Ledger {
  constructor() {
    this.rooms = new Map();  // room → { texts: Map(id → text), highest }
    this.totals = new DeliveryTotals();
  }

  record(room, id, text) {
    let entry = this.rooms.get(room);
    if (!entry) this.rooms.set(room, (entry = { texts: new Map(), highest: 0 }));
    const known = entry.texts.get(id);
    if (known === undefined) entry.texts.set(id, text);
    else if (known !== text) this.totals.corrupt++;
    entry.highest = Math.max(entry.highest, id);
  }

  /** Messages the server accepted: ids are gapless per room, so the sum of the highest. */
  published() {
    let n = 0;
    for (const { highest } of this.rooms.values()) n += highest;
    return n;
  }

  /** Ids below a room's highest that no receiver ever saw (said while nobody listened). */
  unseen() {
    let n = 0;
    for (const { texts, highest } of this.rooms.values()) n += highest - texts.size;
    return n;
  }
}
