"""Flexstack's own Python examples, as its documentation writes them (only the URL and the token are filled in)."""
import os, sys, requests
import parrot

messages = [{"role": "user", "content": "Hello, have a good day!"}]
model, temperature, top_k, top_p, max_tokens = "gemma-7b", 0, 10, 0.9, 64

if sys.argv[1:] == ["requests"]:
    # "Response streaming with Python request"
    # Parrot API Endpoint
    url = os.environ["LLMQ_URL"] + "/v1/ai/text_completion?stream=true"

    # Setting configs
    configs = dict(
        model=model, temperature=temperature, top_k=top_k, top_p=top_p, max_new_tokens=max_tokens
    )

    # Payload
    payload = {"messages": messages, "configs": configs}

    # Headers
    headers = {"Authorization" :  "Bearer " + os.environ["LLMQ_KEY"]}

    # Get response with streaming
    with requests.post(url, json=payload, stream=True, headers=headers) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line:
                print(line.decode())

elif sys.argv[1:] == ["streaming"]:
    # Parrot API, "Streaming"
    # Initialize the text generation process with the Parrot api.
    generator = parrot.generate_text_stream(messages, model, top_k, top_p, temperature, max_tokens)

    # Iterate over the generator object to fetch generated text.
    for data in generator:
        print(data.decode().strip())

elif sys.argv[1:] == ["not-streaming"]:
    # Parrot API, "Not Streaming"
    response = parrot.text_generation(messages, model, top_k, top_p, temperature, max_tokens)
    print(response)
else:
    sys.exit("usage: seed_examples.py requests|streaming|not-streaming")
