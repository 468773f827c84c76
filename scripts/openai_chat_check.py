"""Points the official OpenAI Python client, unchanged, at a swarm gateway and checks its
chat and completions APIs: a whole answer, a stream (with usage), a JSON-mode answer, a
completion, the model list, a 422 surfacing as the client's own error type, and tool
calling: a required call read by the client (whole and streamed), then the conversation
continued with the tool's result.

    python3 scripts/openai_chat_check.py http://127.0.0.1:8080
Prints one JSON line with what it saw; exits non-zero on any failure.
"""
import json
import sys

import openai
from openai import OpenAI


def main(base):
    client = OpenAI(base_url=base.rstrip("/") + "/v1", api_key="not-needed-unless-keys-are-configured")
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is the capital of France?"}]
    whole = client.chat.completions.create(model="SmolLM2", messages=messages, temperature=0, max_tokens=24)
    stream = client.chat.completions.create(
        model="SmolLM2", messages=messages, temperature=0, max_tokens=24, stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage, roles = [], None, None, []
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    as_json = client.chat.completions.create(
        model="SmolLM2", messages=[{"role": "user", "content": "Give me a JSON object describing a dog."}],
        temperature=0, max_tokens=48, response_format={"type": "json_object"},
    )
    completion = client.completions.create(model="SmolLM2", prompt="The capital of France is", temperature=0, max_tokens=5)
    models = client.models.list()
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    called = client.chat.completions.create(
        model="SmolLM2", messages=ask, temperature=0, max_tokens=200, tools=tools, tool_choice="required")
    call = called.choices[0].message.tool_calls[0]
    streamed_calls = {}
    for chunk in client.chat.completions.create(
            model="SmolLM2", messages=ask, temperature=0, max_tokens=200, tools=tools, tool_choice="required",
            stream=True):
        for choice in chunk.choices:
            for d in choice.delta.tool_calls or []:
                c = streamed_calls.setdefault(d.index, {"name": "", "arguments": ""})
                c["name"] += d.function.name or ""
                c["arguments"] += d.function.arguments or ""
    follow_up = client.chat.completions.create(
        model="SmolLM2", temperature=0, max_tokens=32, tools=tools, tool_choice="none",
        messages=ask + [called.choices[0].message,
                        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21}'}])
    try:
        client.chat.completions.create(model="SmolLM2", messages=messages, temperature=-1)
        refused = None
    except openai.UnprocessableEntityError as e:
        refused = e.status_code
    print(json.dumps({
        "whole": whole.choices[0].message.content,
        "whole_finish": whole.choices[0].finish_reason,
        "whole_usage": [whole.usage.prompt_tokens, whole.usage.completion_tokens, whole.usage.total_tokens],
        "streamed": "".join(pieces),
        "stream_finish": finish,
        "stream_usage": [usage.prompt_tokens, usage.completion_tokens, usage.total_tokens] if usage else None,
        "roles": roles,
        "json_finish": as_json.choices[0].finish_reason,
        "json_text": as_json.choices[0].message.content,
        "completion": completion.choices[0].text,
        "models": [m.id for m in models.data],
        "refused": refused,
        "tool_finish": called.choices[0].finish_reason,
        "tool_name": call.function.name,
        "tool_arguments": json.loads(call.function.arguments),
        "streamed_call": streamed_calls.get(0),
        "follow_up": follow_up.choices[0].message.content,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
