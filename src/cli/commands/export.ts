// `cyclener export --onnx DIR --model M`: the model in ONNX for ONNX Runtime / transformers.js (src/api/export.ts).

import { exportOnnx, ONNX_EXPORT_FILES } from '../../api/export';
import { modelDirArg } from '../model-arg';
import { registerCommand, type Io } from '../registry';

registerCommand({
  name: 'export',
  summary: 'export a model to ONNX (fp32) in the layout transformers.js and ONNX Runtime load',
  flags: {
    onnx: { type: 'string', arg: 'DIR', help: 'output folder (created if missing)', required: true },
    model: {
      type: 'string',
      arg: 'DIR|HUB_ID',
      help: "model directory (an S2E, a run's best/, a run: its S2E; any T5 with its tokenizer)",
      required: true,
    },
    force: { type: 'boolean', help: 'replace the files of an earlier export in --onnx' },
  },
  details: [
    'Writes into --onnx (+ cyclener.json, spiece.model when the model has them):',
    `  ${ONNX_EXPORT_FILES.join(', ')}:`,
    'the encoder, the decoder without and with past keys/values, and both decoders in one file behind an If on',
    '`use_cache_branch` (decoder_model_merged.onnx, what transformers.js runs). fp32 weights, whatever the checkpoint stores.',
    'The graphs are traced in Python (PyTorch and onnx: Debian python3-torch and python3-onnx, installed by `npm run setup`;',
    "CYCLENER_PYTHON picks another interpreter). The model is the T5 alone: cyclener's grounded decoding, its text",
    'normalisation (é as e) and its entity alignment are not part of it; greedy decoding of the export gives, token for',
    "token, cyclener's plain decoding in fp32 (--no-ground --fp32). Example, then in Node.js with @huggingface/transformers:",
    '  cyclener export --onnx out/conll-s2e --model runs/conll',
    "  pipeline('text2text-generation', 'conll-s2e', { dtype: 'fp32' })   (env.localModelPath = 'out/')",
  ].join('\n'),
  async run(args, io: Io): Promise<number> {
    const f = args.flags;
    const model = (await modelDirArg(f.model, '--model', io)) as string;
    const r = await exportOnnx({ model, out: f.onnx, force: f.force === true });
    io.err(
      `exported ${r.model} to ${r.out} (opset ${r.opset}; PyTorch ${r.torch}, onnx ${r.onnx}): ${r.files.join(', ')}`,
    );
    return 0;
  },
});
