"""HL7 v2 over MLLP: three layers, each testable from bytes.

``mllp`` finds frames in a byte stream; ``er7`` parses a frame into segments and fields;
``pcd`` decodes IHE PCD messages into domain records (with ``obx`` for the rows, ``acm``
for alarms, ``waveform`` for samples); ``ack`` builds the answers; ``listener`` is the TCP
server that ties them to the gateway core. ``validate`` judges a capture, offline. What
each handles is in docs/hl7.md.
"""
