import Bridge
print(linkedPythonVersion())
