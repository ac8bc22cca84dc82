#!/usr/bin/python3
"""scripts/render_prompts.py: a chat template written here (ChatML-like, with a system message
and a role check), rendered exactly; the template list form; and the errors that name the file,
line and what to do."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "render_prompts.py")

# Roles must alternate user / assistant after an optional system message; the generation
# prompt opens an assistant turn.
TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' and not loop.first %}"
    "{{ raise_exception('the system message must come first') }}"
    "{% endif %}"
    "<|{{ m['role'] }}|>\n{{ m['content'] | trim }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def run(args):
    return subprocess.run([sys.executable, SCRIPT] + args, capture_output=True, text=True)


class RenderPromptsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.model = os.path.join(self.dir.name, "model")
        os.mkdir(self.model)
        self.write_config({"chat_template": TEMPLATE, "bos_token": "<s>",
                           "eos_token": {"content": "</s>", "lstrip": False}})
        self.chats = os.path.join(self.dir.name, "chats.jsonl")
        with open(self.chats, "w", encoding="utf-8") as f:
            f.write(json.dumps({"messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "  Héllo 👋 "}]}, ensure_ascii=False) + "\n\n")
            f.write(json.dumps([{"role": "user", "content": "2 + 2?"}]) + "\n")
        self.out = os.path.join(self.dir.name, "prompts.jsonl")

    def tearDown(self):
        self.dir.cleanup()

    def write_config(self, config):
        with open(os.path.join(self.model, "tokenizer_config.json"), "w") as f:
            json.dump(config, f)

    def read_prompts(self):
        with open(self.out, encoding="utf-8") as f:
            return [json.loads(line)["prompt"] for line in f]

    def test_renders_every_conversation_exactly(self):
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out])
        self.assertEqual(r.returncode, 0, r.stderr)
        # The template's leading bos is removed: the trainer adds tokenizer.bos_id itself.
        self.assertEqual(self.read_prompts(), [
            "<|system|>\nBe brief.</s>\n<|user|>\nHéllo 👋</s>\n<|assistant|>\n",
            "<|user|>\n2 + 2?</s>\n<|assistant|>\n",
        ])
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out,
                 "--no-generation-prompt", "--keep-bos"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read_prompts()[1], "<s><|user|>\n2 + 2?</s>\n")

    def test_a_named_template_from_a_list(self):
        self.write_config({"chat_template": [
            {"name": "default", "template": "D{{ messages[0]['content'] }}"},
            {"name": "tool_use", "template": "T{{ messages[0]['content'] }}"}]})
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out,
                 "--template", "tool_use"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read_prompts(), ["TBe brief.", "T2 + 2?"])
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out])
        self.assertEqual(self.read_prompts()[0], "DBe brief.")

    def test_loop_controls_generation_blocks_and_only_special_tokens(self):
        # transformers' environment: {% break %}, {% generation %}; tools is none; booleans
        # such as add_bos_token are not template variables.
        self.write_config({"chat_template":
                           "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}"
                           "{% generation %}[{{ m['content'] }}]{% endgeneration %}{% endfor %}"
                           "{% if tools is none %}N{% endif %}"
                           "{% if add_bos_token is defined %}B{% endif %}{{ pad_token }}",
                           "add_bos_token": True, "pad_token": "<pad>"})
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read_prompts(), ["[Be brief.]N<pad>", "[2 + 2?]N<pad>"])

    def test_text_format_refuses_line_breaks(self):
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out,
                 "--format", "text"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("chats.jsonl:1: the rendered prompt has a line break", r.stderr)
        self.assertFalse(os.path.exists(self.out))

    def test_errors_name_the_file_the_line_and_the_fix(self):
        with open(self.chats, "a") as f:
            f.write(json.dumps({"messages": [{"role": "user", "content": "a"},
                                             {"role": "system", "content": "late"}]}) + "\n")
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out])
        self.assertEqual(r.returncode, 2)
        self.assertIn("chats.jsonl:4: the chat template refused this conversation: "
                      "the system message must come first", r.stderr)
        with open(self.chats, "a") as f:
            f.write("{not json\n")
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out])
        self.assertIn("chats.jsonl:4", r.stderr)  # the first bad line is reported first
        self.write_config({"bos_token": "<s>"})
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out])
        self.assertEqual(r.returncode, 2)
        self.assertIn("tokenizer_config.json: no 'chat_template'", r.stderr)
        self.write_config({"chat_template": "{% for %}"})
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out])
        self.assertIn("chat_template does not parse", r.stderr)
        r = run(["--model", self.dir.name + "/nowhere", "--input", self.chats,
                 "--output", self.out])
        self.assertIn("nowhere/tokenizer_config.json: no such file", r.stderr)

    def test_bad_messages(self):
        with open(self.chats, "w") as f:
            f.write(json.dumps({"messages": [{"role": "user"}]}) + "\n")
        r = run(["--model", self.model, "--input", self.chats, "--output", self.out])
        self.assertEqual(r.returncode, 2)
        self.assertIn("chats.jsonl:1: message 0 needs a string 'role' and a string 'content'",
                      r.stderr)


if __name__ == "__main__":
    unittest.main()
