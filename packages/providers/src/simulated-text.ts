import type { ChatMessage, GenerationParams } from "@llmq/core";

// Plain words only, so simulated output reads like (meaningless) prose in demos and logs.
const VOCABULARY = [
  "the", "a", "queue", "model", "answer", "question", "worker", "task", "token", "stream",
  "quiet", "bright", "small", "large", "early", "late", "careful", "simple", "steady", "useful",
  "river", "garden", "window", "morning", "evening", "city", "road", "letter", "story", "idea",
  "runs", "waits", "moves", "writes", "reads", "builds", "finds", "keeps", "takes", "gives",
  "slowly", "quickly", "often", "again", "always", "never", "together", "later", "here", "there",
  "and", "but", "so", "with", "from", "into", "over", "under", "before", "after",
  "people", "teacher", "engineer", "friend", "market", "table", "paper", "light", "sound", "music",
  "makes", "shows", "learns", "follows", "carries", "brings", "turns", "opens", "closes", "starts",
] as const;

const MIN_LENGTH = 40;
const MAX_LENGTH = 400;
// Tokens a chat template adds around each message, roughly what OpenAI documents.
const TOKENS_PER_MESSAGE = 4;

/**
 * The full completion the simulated model "wants" to write for this prompt: one token per entry,
 * each a word with its leading space. Same messages, seed and temperature give the same tokens.
 */
export function simulatedTokens(messages: readonly ChatMessage[], params: GenerationParams, choice = 0): string[] {
  // Choice 0 keeps the seed text it always had, so n=1 answers do not change.
  const seedParts = [messages.map((m) => [m.role, m.content]), params.seed ?? null, params.temperature ?? null, ...(choice > 0 ? [choice] : [])];
  const seedText = JSON.stringify(seedParts);
  const random = mulberry32(fnv1a(seedText));
  const length = MIN_LENGTH + Math.floor(random() * (MAX_LENGTH - MIN_LENGTH + 1));
  const tokens: string[] = [];
  let sentenceLeft = 0;
  for (let i = 0; i < length; i++) {
    const startsSentence = sentenceLeft === 0;
    if (startsSentence) sentenceLeft = 6 + Math.floor(random() * 10);
    sentenceLeft--;
    let word: string = pick(VOCABULARY, random);
    if (startsSentence) word = word[0]!.toUpperCase() + word.slice(1);
    // The last token always closes a sentence, so the natural end reads as one.
    if (sentenceLeft === 0 || i === length - 1) {
      word += ".";
      sentenceLeft = 0;
    } else if (random() < 0.08) {
      word += ",";
    }
    tokens.push(i === 0 ? word : ` ${word}`);
  }
  return tokens;
}

/** A deterministic stand-in for a tokenizer: words of every message plus a fixed cost per message. */
export function simulatedPromptTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((sum, m) => sum + (m.content ?? "").split(/\s+/).filter(Boolean).length + TOKENS_PER_MESSAGE, 0);
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)]!;
}

// 32-bit FNV-1a: tiny, stable across runs and platforms, good enough to seed a PRNG.
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
