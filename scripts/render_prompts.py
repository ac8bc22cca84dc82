#!/usr/bin/python3
"""Renders chat conversations through a model's chat template into the prompts file the trainer
reads.

Input: JSONL, one conversation a line: {"messages": [{"role": "user", "content": "..."}, ...]}
(or the list of messages itself). The template is the `chat_template` of the model's
tokenizer_config.json (a string, or a list of {"name", "template"} where "default" is used
unless --template names another), rendered with Jinja2 in a sandbox the way Hugging Face
transformers renders it: `messages`, `add_generation_prompt` (on unless --no-generation-prompt),
`bos_token` / `eos_token` / the other special tokens of the config, `raise_exception(msg)`,
`strftime_now(fmt)`, and the `tojson` filter.

A leading bos_token in the rendered text is removed (--keep-bos keeps it): infalign starts every
prompt with tokenizer.bos_id itself, as transformers does with add_special_tokens.

Output: --format jsonl (default) writes {"<field>": rendered} a line, for prompts with line
breaks: name the file *.jsonl and set data.prompt_field to --field (default "prompt"); --format
text writes one rendered prompt a line and refuses a prompt that contains a line break.

    scripts/render_prompts.py --model path/to/model --input chats.jsonl --output prompts.jsonl
"""
import argparse
import datetime
import json
import os
import sys

try:
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    import jinja2.sandbox
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("render_prompts.py: needs Jinja2: apt-get install python3-jinja2 "
             "(scripts/install_deps.sh installs it)")


class RenderError(Exception):
    pass


# The special tokens transformers passes to a chat template by name.
SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                  "mask_token")

if "jinja2" in sys.modules:
    class GenerationTag(jinja2.ext.Extension):
        """{% generation %} ... {% endgeneration %} (marks assistant text for training masks in
        transformers): renders its body unchanged."""
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_render"), [], [],
                                          body).set_lineno(lineno)

        def _render(self, caller):
            return caller()


def token_text(value):
    """A special token of tokenizer_config.json: a string, or {"content": ...}."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def load_template(model_dir, name):
    path = os.path.join(model_dir, "tokenizer_config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        raise RenderError(f"{path}: no such file; expected the model's tokenizer_config.json")
    except json.JSONDecodeError as e:
        raise RenderError(f"{path}: not valid JSON ({e})")
    template = config.get("chat_template")
    if template is None:
        raise RenderError(f"{path}: no 'chat_template'; this model has no chat template "
                          "(use plain prompts, or add one)")
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        want = name or "default"
        if want not in named:
            raise RenderError(f"{path}: chat_template has no template named '{want}' "
                              f"(it has: {', '.join(str(k) for k in named)})")
        template = named[want]
    elif name:
        raise RenderError(f"{path}: chat_template is a single template; --template {name} "
                          "names one of a list")
    if not isinstance(template, str):
        raise RenderError(f"{path}: chat_template is a {type(template).__name__}, expected a "
                          "string or a list of {name, template}")
    tokens = {key: token_text(config[key]) for key in SPECIAL_TOKENS
              if key in config and isinstance(token_text(config[key]), str)}
    extra = config.get("additional_special_tokens")
    if isinstance(extra, list):
        tokens["additional_special_tokens"] = [token_text(t) for t in extra]
    return path, template, tokens


def compile_template(path, text):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True,
        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    try:
        return env.from_string(text)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise RenderError(f"{path}: chat_template does not parse: {e.message} "
                          f"(template line {e.lineno})")


def conversations(path):
    """(line number, messages) of every non-empty line."""
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise RenderError(f"{path}: no such file; expected JSONL of conversations")
    with f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise RenderError(f"{path}:{number}: not valid JSON ({e.msg})")
            messages = record.get("messages") if isinstance(record, dict) else record
            if not isinstance(messages, list) or not messages:
                raise RenderError(f"{path}:{number}: expected {{\"messages\": [...]}} or a "
                                  "non-empty list of messages")
            for i, m in enumerate(messages):
                if not isinstance(m, dict) or not isinstance(m.get("role"), str) or \
                        not isinstance(m.get("content"), str):
                    raise RenderError(f"{path}:{number}: message {i} needs a string 'role' "
                                      "and a string 'content'")
            yield number, messages


def render_all(args):
    path, text, tokens = load_template(args.model, args.template)
    template = compile_template(path, text)
    rendered = []
    for number, messages in conversations(args.input):
        try:
            prompt = template.render(messages=messages, tools=None, documents=None,
                                     add_generation_prompt=not args.no_generation_prompt,
                                     **tokens)
        except jinja2.exceptions.TemplateError as e:
            raise RenderError(f"{args.input}:{number}: the chat template refused this "
                              f"conversation: {e}")
        bos = tokens.get("bos_token")
        if not args.keep_bos and bos and prompt.startswith(bos):
            prompt = prompt[len(bos):]
        if args.format == "text" and ("\n" in prompt or "\r" in prompt):
            raise RenderError(f"{args.input}:{number}: the rendered prompt has a line break, "
                              "which a text prompts file cannot hold; use --format jsonl "
                              "(the trainer reads it with data.prompt_field)")
        rendered.append(prompt)
    if not rendered:
        raise RenderError(f"{args.input}: no conversations")
    return rendered


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="directory with tokenizer_config.json")
    ap.add_argument("--input", required=True, help="JSONL of conversations")
    ap.add_argument("--output", required=True, help="the prompts file to write")
    ap.add_argument("--format", choices=("jsonl", "text"), default="jsonl")
    ap.add_argument("--field", default="prompt", help="the JSONL key of each prompt")
    ap.add_argument("--template", help="the name of a template when chat_template is a list")
    ap.add_argument("--keep-bos", action="store_true",
                    help="keep the bos_token text a template starts with (by default it is "
                         "removed: the trainer starts every prompt with tokenizer.bos_id)")
    ap.add_argument("--no-generation-prompt", action="store_true",
                    help="leave out the assistant header the template adds at the end")
    args = ap.parse_args(argv)
    try:
        rendered = render_all(args)
    except RenderError as e:
        print(f"render_prompts.py: {e}", file=sys.stderr)
        return 2
    tmp = args.output + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for prompt in rendered:
                if args.format == "jsonl":
                    f.write(json.dumps({args.field: prompt}, ensure_ascii=False) + "\n")
                else:
                    f.write(prompt + "\n")
        os.replace(tmp, args.output)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        print(f"render_prompts.py: cannot write {args.output}: {e}", file=sys.stderr)
        return 2
    print(f"render_prompts.py: {len(rendered)} prompts -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
