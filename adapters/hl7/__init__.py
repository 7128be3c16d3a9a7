"""HL7 v2 over MLLP: three layers, each testable from bytes.

``mllp`` finds frames in a byte stream; ``er7`` parses a frame into segments and fields;
``pcd`` decodes IHE PCD messages into domain records; ``ack`` builds the answers;
``listener`` is the TCP server that ties them to the gateway core.
"""
