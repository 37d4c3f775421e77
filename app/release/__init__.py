"""Research dataset releases (``arena release``) and the machinery every data export
shares (the judge exports call it too, never a copy):

- ``writer.ShardedParquetWriter``: streamed, size-bounded Parquet shards, images as the
  Hugging Face ``Image`` feature (``features.IMAGE_STRUCT``: bytes + path)
- ``features.hf_features`` / ``with_hf_metadata``: datasets features from an Arrow schema
- ``card.DatasetCard`` / ``write_card``: README.md with the hub's YAML header
- ``manifest.write_manifest`` / ``verify_manifest``: sha256 of every file, versions, params
- ``filters``: the release filters, one module each, each with a version and a report
- ``build.build_release``: the release itself (source → filters → shards → card, manifest)
"""
