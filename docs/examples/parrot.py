"""Flexstack's "Parrot" client shape for llmq: the answer's text as it comes, or the whole answer."""
import json, os, requests

URL = os.environ.get("LLMQ_URL", "http://127.0.0.1:3000") + "/ai/text_completion"
HEADERS = {"Authorization": "Bearer " + os.environ["LLMQ_KEY"]}

def _post(messages, model, top_k, top_p, temperature, max_tokens, stream):
    configs = dict(model=model, top_k=top_k, top_p=top_p, temperature=temperature, max_new_tokens=max_tokens)
    response = requests.post(URL, params={"stream": stream}, json={"messages": messages, "configs": configs}, headers=HEADERS, stream=stream)
    response.raise_for_status()
    return response

def generate_text_stream(messages, model="gemma-7b", top_k=50, top_p=0.5, temperature=0.7, max_tokens=512):
    """Yields the text of each `token` event as it comes (bytes, as Parrot's generator does)."""
    event = None
    for line in _post(messages, model, top_k, top_p, temperature, max_tokens, True).iter_lines():
        if line.startswith(b"event:"):
            event = line[6:].strip()
        elif line.startswith(b"data:") and event == b"token":
            yield json.loads(line[5:])["delta"].encode()
        elif line.startswith(b"data:") and event in (b"result", b"error"):
            envelope = json.loads(line[5:])
            if not (envelope["data"] or {}).get("is_success"):
                raise RuntimeError(envelope["error_description"])

def text_generation(messages, model="gemma-7b", top_k=50, top_p=0.5, temperature=0.7, max_tokens=512):
    """Waits for the task and returns its whole answer."""
    return _post(messages, model, top_k, top_p, temperature, max_tokens, False).json()["data"]["data"]["response"]

if __name__ == "__main__":
    for data in generate_text_stream([{"role": "user", "content": "Hello, have a good day!"}]):
        print(data.decode(), end="", flush=True)
    print()
