"""The trace core: Keras's graph (the one adapter), the probes, the stream engine and the call
recorder, the costs, the explanations, the layer selection and the published document."""
