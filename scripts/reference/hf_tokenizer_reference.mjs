// The reference for infalign's tokenizer.json reader: the npm package @huggingface/tokenizers
// (a JavaScript implementation of the same format), run by node. Reads a JSONL of requests and
// writes one JSONL line per request:
//   {"text": "..."}  ->  {"ids": [...], "text": decode(ids)}   (encode without special tokens)
//   {"ids": [...]}   ->  {"text": decode(ids)}
// decode skips special tokens and cleans up spaces as tokenizer_config.json says (false when it
// says nothing, as infalign does). Run by tests/unit/tokenizer/bpe_tokenizer_test.cpp:
//   node hf_tokenizer_reference.mjs PACKAGE_DIR TOKENIZER_DIR IN.jsonl OUT.jsonl
// PACKAGE_DIR is the unpacked package (scripts/fetch_tokenizers.sh puts it under
// data/tokenizers/js); TOKENIZER_DIR holds tokenizer.json and tokenizer_config.json.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [packageDir, tokenizerDir, input, output] = process.argv.slice(2);
if (!output) {
  console.error("usage: node hf_tokenizer_reference.mjs PACKAGE_DIR TOKENIZER_DIR IN.jsonl OUT.jsonl");
  process.exit(2);
}
const { Tokenizer } = await import(pathToFileURL(join(packageDir, "dist", "tokenizers.mjs")).href);
const tokenizerJson = JSON.parse(readFileSync(join(tokenizerDir, "tokenizer.json"), "utf8"));
const configPath = join(tokenizerDir, "tokenizer_config.json");
const config = existsSync(configPath) ? JSON.parse(readFileSync(configPath, "utf8")) : {};
config.clean_up_tokenization_spaces = config.clean_up_tokenization_spaces ?? false;
// A ByteLevel pre-tokenizer with use_regex splits on GPT-2's pattern. The package runs that
// pattern as a native JavaScript regex, whose \s differs from Oniguruma's (the Rust tokenizers'
// engine) on U+0085 and U+FEFF; the same split written as a Split step goes through the
// package's Oniguruma translation. Hugging Face defines the two as the same operation.
const GPT2_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const explicitSplit = (step) => {
  if (step === null || step === undefined) return step;
  if (step.type === "Sequence") return { ...step, pretokenizers: step.pretokenizers.map(explicitSplit) };
  if (step.type !== "ByteLevel" || step.use_regex === false) return step;
  return {
    type: "Sequence",
    pretokenizers: [
      { type: "Split", pattern: { Regex: GPT2_PATTERN }, behavior: "Isolated", invert: false },
      { ...step, use_regex: false },
    ],
  };
};
tokenizerJson.pre_tokenizer = explicitSplit(tokenizerJson.pre_tokenizer);
const tokenizer = new Tokenizer(tokenizerJson, config);

const decode = (ids) => (ids.length === 0 ? "" : tokenizer.decode(ids, { skip_special_tokens: true }));
const lines = readFileSync(input, "utf8").split("\n").filter((line) => line.length > 0);
const out = lines.map((line) => {
  const request = JSON.parse(line);
  if (request.ids !== undefined) return JSON.stringify({ text: decode(request.ids) });
  const ids = tokenizer.encode(request.text, { add_special_tokens: false }).ids;
  return JSON.stringify({ ids, text: decode(ids) });
});
writeFileSync(output, out.join("\n") + "\n");
