import type { ChatMessage, GenerationParams } from "@llmq/core";

// The simulated model's reply: a plausible answer to the last user message, built from templates keyed
// on the prompt's kind (greeting, question, instruction, anything else) and filled with the prompt's own
// words. No network, no model: the same messages, seed and temperature always give the same tokens.
// One token per word (with its leading space); a long answer is split into paragraphs.

/** A reply's natural length, in words, by the prompt's kind: always within [40, 400]. */
const NATURAL_WORDS: Record<PromptKind, [number, number]> = {
  greeting: [40, 70],
  question: [80, 220],
  instruction: [120, 320],
  statement: [60, 160],
};
/** The most words a prompt can ask for ("write N words"); max_tokens usually ends it sooner. */
const MAX_ASKED_WORDS = 20_000;
/** A long answer starts a new paragraph after about this many words. */
const PARAGRAPH_WORDS = 90;
// Tokens a chat template adds around each message, roughly what OpenAI documents.
const TOKENS_PER_MESSAGE = 4;

type PromptKind = "greeting" | "question" | "instruction" | "statement";

const GREETING = /^\W*(hello|hi|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day))\b/i;
const QUESTION_START = /^\W*(what|why|how|who|whom|whose|when|where|which|can|could|would|should|is|are|was|were|do|does|did|will|may|might|shall)\b/i;
const INSTRUCTION_START =
  /^\W*(please\s+)?(write|explain|describe|tell|list|give|summari[sz]e|translate|create|make|show|compose|draft|generate|suggest|help|compare|define|outline|name|teach|plan|imagine)\b/i;
const WISH = /\b(good|nice|great|lovely|wonderful|happy) (day|morning|afternoon|evening|night|weekend|week|holiday|holidays)\b/i;
/** "write 500 words", "a 200-word summary", "in 80 words". */
const ASKED_WORDS = /\b(\d{1,6})[\s-]*words?\b/i;

/** Words that say nothing about the subject: function words and the usual words of a request. */
const STOPWORDS = new Set(
  (
    "a an the and or but so if then than that this these those there here it its it's i me my mine we us our you your yours he him his she her they them their " +
    "is are was were be been being am do does did doing have has had having will would shall should can could may might must " +
    "to of in on at by for with from into onto over under about above below between through during before after again further once " +
    "what why how who whom whose when where which while not no nor only own same too very just also any all both each few more most other some such " +
    "as up down out off until because against among per via " +
    "hello hi hey hiya howdy greetings good morning afternoon evening thanks thank please kindly " +
    "write explain describe tell list give summarize summarise translate create make show compose draft generate suggest help compare define outline name teach plan imagine " +
    "word words short long brief detailed answer reply response text paragraph paragraphs sentence sentences story essay poem piece article summary " +
    "something anything everything thing things way ways really quite maybe perhaps let lets like want need get got know think " +
    "use uses used work works handle handles happen happens mean means go goes find keep look see say call called better best"
  ).split(/\s+/),
);

const OPENINGS: Record<PromptKind, string[]> = {
  greeting: ["Hello! It is good to hear from you.", "Hi there! Thanks for saying hello.", "Hey! Nice to meet you."],
  question: ["That is a good question about {t}.", "Here is how I think about {t}.", "Good question: {t} comes up often.", "Let me explain how {t} works."],
  instruction: ["Sure, here is a short take on {t}.", "Of course. Let us look at {t}.", "Happy to help with {t}.", "Here is what I would say about {t}."],
  statement: ["Thanks for sharing your thoughts on {t}.", "That is an interesting point about {t}.", "I see what you mean about {t}."],
};

/** Sentences of an answer's body; {t} is the subject, {k} and {j} other words of the prompt. */
const BODY = [
  "In short, {t} is easier to understand once you look at the {k}.",
  "A useful way to see it is to start with the {k} and work outward from there.",
  "Most people find that the {k} matters more than it first appears.",
  "The {k} is usually where the details live, so it pays to be careful there.",
  "One common mistake is to treat the {k} as an afterthought.",
  "If you keep the {k} in mind, the rest of {t} tends to follow.",
  "It also helps to compare the {k} with the {j}, since each explains part of the other.",
  "A small example makes this clearer: picture the {k} on an ordinary day.",
  "Over time the {k} changes, and so does the way we talk about {t}.",
  "There is no single right answer, but the {k} is a good place to begin.",
  "Experts often disagree on the details, yet most agree that the {k} is central.",
  "The simplest version is this: the {k} does one job, and it does it well.",
  "When something goes wrong, the {k} is often the first place worth checking.",
  "Seen from a distance, {t} is really a story about the {k} and the {j}.",
  "Each part depends on the others, and the {k} ties them together.",
  "That is why people who work with {t} every day pay close attention to the {k}.",
  "It is worth asking what would happen without the {k}, because the answer shows why it exists.",
  "The history of {t} shows the same pattern again and again, with the {k} at its heart.",
];
/** Short sentences that bring an answer to about the length it was asked for. */
const FILLERS = [
  "The {k} matters here.",
  "That is the key idea.",
  "This is worth remembering.",
  "Keep the {k} in mind.",
  "It is simpler than it sounds.",
  "Details matter, of course.",
  "Small steps add up.",
];
const GREETING_BODY = [
  "I hope your day is going well so far.",
  "It is always nice to start a conversation on a friendly note.",
  "How can I help you today?",
  "If there is something on your mind, maybe about the {k}, I am happy to talk it through.",
  "I can answer questions, explain ideas, or help you write something.",
  "Feel free to ask me anything, big or small.",
];
const HOW_ARE_YOU = "I am doing well, thank you for asking.";
const CLOSINGS: Record<PromptKind, string[]> = {
  greeting: ["Have a wonderful day.", "Talk to you soon.", "Wishing you a good day too."],
  question: ["I hope this helps; ask me if you would like more detail on {t}.", "Let me know if you want me to go deeper into any part of this.", "In the end, {t} rewards a little patience and curiosity."],
  instruction: ["I hope this is what you were looking for.", "Let me know if you would like a longer or shorter version.", "That covers the main points of {t}."],
  statement: ["Thanks again for bringing it up.", "It is a topic worth coming back to.", "I would be glad to hear more of your thoughts on {t}."],
};
/** Mixed into the prompt's words when it has few, so a short prompt's answer does not repeat one word. */
const FALLBACK_WORDS = ["core idea", "context", "first step", "main point"];
const GREETING_FILLERS = ["Thanks for stopping by.", "It is nice to chat.", "I am here to help.", "Ask me anything."];

interface Prompt {
  kind: PromptKind;
  /** The subject: the first run of meaningful words in the prompt (up to two), or "this". */
  topic: string;
  /** The prompt's other meaningful words, in order, each once. */
  keywords: string[];
  /** Words the prompt asked for ("write 500 words"), if it did. */
  askedWords: number | null;
  howAreYou: boolean;
  /** "a good day", "a nice weekend": what a greeting wished, to wish it back. */
  wish: string | null;
}

/**
 * The full completion the simulated model "wants" to write for this prompt: one token per entry,
 * each a word with its leading space (a paragraph's first word with "\n\n"). Same messages, seed and
 * temperature give the same tokens.
 */
export function simulatedTokens(messages: readonly ChatMessage[], params: GenerationParams, choice = 0): string[] {
  // Choice 0 keeps the seed text it always had, so n=1 answers do not change.
  const seedParts = [messages.map((m) => [m.role, m.content]), params.seed ?? null, params.temperature ?? null, ...(choice > 0 ? [choice] : [])];
  const random = mulberry32(fnv1a(JSON.stringify(seedParts)));
  const prompt = readPrompt(lastUserText(messages));
  const [low, high] = NATURAL_WORDS[prompt.kind];
  const target = prompt.askedWords ?? low + Math.floor(random() * (high - low + 1));
  const sentences = compose(prompt, target, random);
  return tokenize(sentences, prompt.askedWords !== null);
}

/** A deterministic stand-in for a tokenizer: words of every message plus a fixed cost per message. */
export function simulatedPromptTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((sum, m) => sum + (m.content ?? "").split(/\s+/).filter(Boolean).length + TOKENS_PER_MESSAGE, 0);
}

function lastUserText(messages: readonly ChatMessage[]): string {
  const withText = messages.filter((m) => typeof m.content === "string" && m.content.trim() !== "");
  const user = [...withText].reverse().find((m) => m.role === "user") ?? withText[withText.length - 1];
  return user?.content ?? "";
}

function readPrompt(text: string): Prompt {
  const asked = ASKED_WORDS.exec(text);
  const askedWords = asked ? Math.min(MAX_ASKED_WORDS, Math.max(1, Number(asked[1]))) : null;
  const kind: PromptKind = GREETING.test(text)
    ? "greeting"
    : INSTRUCTION_START.test(text) || askedWords !== null
      ? "instruction"
      : text.trim().endsWith("?") || QUESTION_START.test(text)
        ? "question"
        : "statement";
  // Words in order, with whether each is meaningful; the prompt's first word loses its capital.
  const rawWords = text.split(/\s+/).filter(Boolean);
  const words = rawWords.map((word, index) => {
    const clean = word.replace(/^[^\p{L}]+|[^\p{L}\p{N}]+$/gu, "");
    const lower = clean.toLowerCase();
    const meaningful = clean.length >= 3 && /^\p{L}/u.test(clean) && !STOPWORDS.has(lower) && !/^\d/.test(clean);
    return { word: keepCase(clean, index), lower, meaningful };
  });
  // Runs of meaningful words make phrases ("advanced technology", "green energy solutions", up to
  // three words): the first is the subject, the others are what the answer talks about.
  const phrases: string[] = [];
  let run: string[] = [];
  const seen = new Set<string>();
  const endRun = () => {
    const phrase = run.join(" ");
    if (run.length && !seen.has(phrase.toLowerCase())) {
      seen.add(phrase.toLowerCase());
      phrases.push(phrase);
    }
    run = [];
  };
  words.forEach((w, i) => {
    if (!w.meaningful) return endRun();
    run.push(w.word);
    // A run ends at punctuation after the word, or at three words.
    if (run.length === 3 || /[^\p{L}\p{N}'-]$/u.test(rawWords[i]!)) endRun();
  });
  endRun();
  const topicWords = phrases.length ? [phrases[0]!] : [];
  const keywords = phrases.slice(1, 7);
  // A greeting names no subject; its meaningful words ("good day") are still echoed.
  if (kind === "greeting") keywords.unshift(...topicWords.splice(0));
  return {
    kind,
    topic: topicWords.length ? topicWords.join(" ") : "this",
    keywords,
    askedWords,
    howAreYou: /\bhow are you\b/i.test(text),
    wish: WISH.exec(text)?.[0].toLowerCase() ?? null,
  };
}

/** A word as the prompt wrote it, except a capital that only started the prompt. */
function keepCase(word: string, index: number): string {
  if (index > 0 || word.length < 2) return word;
  return word === word.toUpperCase() ? word : word[0]!.toLowerCase() + word.slice(1);
}

/** The answer's sentences, about `target` words long, ending with a closing sentence. */
function compose(prompt: Prompt, target: number, random: () => number): string[] {
  let next = 0;
  const pool = prompt.keywords.length >= 3 ? prompt.keywords : [...prompt.keywords, ...FALLBACK_WORDS];
  const fill = (template: string) =>
    template
      .replace(/\{t\}/g, prompt.topic)
      .replace(/\{k\}/g, () => pool[next++ % pool.length]!)
      .replace(/\{j\}/g, () => pool[next++ % pool.length]!);
  const count = (sentence: string) => sentence.split(" ").length;

  const sentences: string[] = [fill(pick(OPENINGS[prompt.kind], random))];
  if (prompt.kind === "greeting" && prompt.howAreYou) sentences.push(HOW_ARE_YOU);
  if (prompt.kind === "greeting" && prompt.wish) sentences.push(`Thank you, and a ${prompt.wish} to you as well.`);
  const closing = fill(pick(CLOSINGS[prompt.kind], random));
  let words = sentences.reduce((sum, s) => sum + count(s), 0);
  const body = prompt.kind === "greeting" ? GREETING_BODY : BODY;
  // Body sentences in a shuffled order, reshuffled whenever all were used, while they fit.
  let order: number[] = [];
  for (let guard = 0; guard < 100_000; guard++) {
    if (order.length === 0) order = shuffle(body.length, random);
    const sentence = fill(body[order.pop()!]!);
    if (words + count(sentence) + count(closing) > target) break;
    sentences.push(sentence);
    words += count(sentence);
  }
  // Short sentences close the gap to the length asked for.
  for (let guard = 0; guard < 100 && target - words - count(closing) >= 4; guard++) {
    const gap = target - words - count(closing);
    const fitting = (prompt.kind === "greeting" ? GREETING_FILLERS : FILLERS).filter((s) => !sentences.includes(s) && count(s) <= gap).map(fill);
    if (!fitting.length) break;
    const sentence = pick(fitting, random);
    sentences.push(sentence);
    words += count(sentence);
  }
  sentences.push(closing);
  return sentences;
}

/** One token per word; with paragraphs, a paragraph's first word carries the break. */
function tokenize(sentences: string[], paragraphs: boolean): string[] {
  const tokens: string[] = [];
  let inParagraph = 0;
  for (const sentence of sentences) {
    const breakHere = paragraphs && inParagraph >= PARAGRAPH_WORDS;
    if (breakHere) inParagraph = 0;
    sentence.split(" ").forEach((word, i) => {
      const first = tokens.length === 0;
      tokens.push(first ? word : i === 0 && breakHere ? `\n\n${word}` : ` ${word}`);
      inParagraph++;
    });
  }
  return tokens;
}

function shuffle(length: number, random: () => number): number[] {
  const items = Array.from({ length }, (_, i) => i);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
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
